import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from './errors.js';
import { normalizeReference, parseReference, parseRepositoryName, withDefaultTag } from './reference.js';

const D = 'sha256:' + 'a'.repeat(64);

describe('parseReference (docker CLI normalisation)', () => {
  it.each([
    ['busybox', 'docker.io', 'library/busybox', undefined, undefined, 'busybox'],
    ['busybox:1.36', 'docker.io', 'library/busybox', '1.36', undefined, 'busybox:1.36'],
    ['docker.io/busybox', 'docker.io', 'library/busybox', undefined, undefined, 'busybox'],
    ['index.docker.io/library/busybox', 'docker.io', 'library/busybox', undefined, undefined, 'busybox'],
    ['docker.io/library/busybox:latest', 'docker.io', 'library/busybox', 'latest', undefined, 'busybox:latest'],
    ['docker.io/foo/bar', 'docker.io', 'foo/bar', undefined, undefined, 'foo/bar'],
    ['docker.io/library/foo/bar', 'docker.io', 'library/foo/bar', undefined, undefined, 'library/foo/bar'],
    ['foo/bar', 'docker.io', 'foo/bar', undefined, undefined, 'foo/bar'],
    [`localhost:5000/a/b@${D}`, 'localhost:5000', 'a/b', undefined, D, `localhost:5000/a/b@${D}`],
    ['localhost/foo', 'localhost', 'foo', undefined, undefined, 'localhost/foo'],
    ['host:5000/x:tag', 'host:5000', 'x', 'tag', undefined, 'host:5000/x:tag'],
    [`quay.io/a/b:v1@${D}`, 'quay.io', 'a/b', 'v1', D, `quay.io/a/b:v1@${D}`],
    ['[::1]:5000/foo', '[::1]:5000', 'foo', undefined, undefined, '[::1]:5000/foo'],
    ['Foo/bar', 'Foo', 'bar', undefined, undefined, 'Foo/bar'],
    ['a-b__c.d/e', 'a-b__c.d', 'e', undefined, undefined, 'a-b__c.d/e'],
    ['foo/a--b_c__d.e', 'docker.io', 'foo/a--b_c__d.e', undefined, undefined, 'foo/a--b_c__d.e'],
    ['busybox:5000', 'docker.io', 'library/busybox', '5000', undefined, 'busybox:5000'],
  ])('%s', (input, domain, path, tag, digest, familiar) => {
    const ref = parseReference(input);
    expect(ref.domain).toBe(domain);
    expect(ref.path).toBe(path);
    expect(ref.tag).toBe(tag);
    expect(ref.digest).toBe(digest);
    expect(ref.name).toBe(`${domain}/${path}`);
    expect(ref.familiar()).toBe(familiar);
  });

  it('adds latest only when there is neither tag nor digest', () => {
    expect(normalizeReference('busybox').toString()).toBe('docker.io/library/busybox:latest');
    expect(withDefaultTag(parseReference(`busybox@${D}`)).toString()).toBe(`docker.io/library/busybox@${D}`);
    expect(normalizeReference('busybox:1').toString()).toBe('docker.io/library/busybox:1');
  });

  it.each([
    ['', /at least one component/],
    ['Busybox', /must be lowercase/],
    ['foo/Bar', /must be lowercase/],
    ['a'.repeat(64).replace(/a/g, 'f'), /64-byte hexadecimal/],
    ['foo:' + 'a'.repeat(129), /tag .* must match/],
    ['foo:-bad', /tag "-bad"/],
    ['foo:a/b', /tag "a\/b" must not contain '\/'/],
    ['localhost:5000/foo:a/b', /path component|tag/],
    ['foo@sha256:abc', /digest/],
    [`foo@md5:${'a'.repeat(32)}`, /unsupported algorithm/],
    ['foo/../bar', /path component ".."/],
    ['foo//bar', /path component ""/],
    ['-foo', /path component "-foo"/],
    ['a/' + 'b'.repeat(250), /not be more than 255/],
    ['foo bar', /invalid reference format/],
    ['host:port/x', /"host:port" is not a valid host:port/],
  ])('rejects %s', (input, message) => {
    expect(() => parseReference(input)).toThrow(InvalidArgumentError);
    expect(() => parseReference(input)).toThrow(message);
  });

  // Vectors from distribution/reference's normalize tests (what docker accepts and refuses).
  it('accepts and refuses what distribution/reference does', () => {
    const valid = [
      'docker/docker', 'library/debian', 'debian', 'docker.io/docker/docker', 'docker.io/library/debian',
      'docker.io/debian', 'index.docker.io/docker/docker', 'index.docker.io/library/debian', 'index.docker.io/debian',
      '127.0.0.1:5000/docker/docker', '127.0.0.1:5000/library/debian', '127.0.0.1:5000/debian', '192.168.0.1',
      '192.168.0.1:80', '192.168.0.1:8/debian', '192.168.0.2:25000/debian',
      'thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev', '[fc00::1]:5000/docker',
      '[fc00::1]:5000/docker/docker', '[fc00:1:2:3:4:5:6:7]:5000/library/debian',
      'docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a', 'Docker/docker', 'DOCKER/docker',
      'docker-rules/docker', 'docker---rules/docker', 'doc/docker', 'd/docker', 'jess/t', 'dock__er/docker',
    ];
    const invalid = [
      'https://github.com/docker/docker', 'docker/Docker', '-docker', '-docker/docker', '-docker.io/docker/docker',
      'docker///docker', 'docker.io/docker/Docker', 'docker.io/docker///docker', '[fc00::1]', '[fc00::1]:5000',
      'fc00::1:5000/debian', '[fe80::1%eth0]:5000/debian', '[2001:db8:3:4::192.0.2.33]:5000/debian',
      '1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a', 'docker-/docker', '-docker-/docker',
      '____/____', '_docker/_docker', 'dock..er/docker', 'dock_.er/docker', 'dock-.er/docker', 'docker/',
      `${'this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_'.repeat(4)}/docker`,
    ];
    for (const v of valid) expect(() => parseReference(v), v).not.toThrow();
    for (const v of invalid) expect(() => parseReference(v), v).toThrow(InvalidArgumentError);
    const table: Array<[string, string, string, string]> = [
      ['index.docker.io/fooo/bar', 'docker.io', 'fooo/bar', 'fooo/bar'],
      ['library/ubuntu', 'docker.io', 'library/ubuntu', 'ubuntu'],
      ['docker.io/other/library', 'docker.io', 'other/library', 'other/library'],
      ['127.0.0.1:8000/privatebase', '127.0.0.1:8000', 'privatebase', '127.0.0.1:8000/privatebase'],
      ['example.com:8000/private/moonbase', 'example.com:8000', 'private/moonbase', 'example.com:8000/private/moonbase'],
      ['index.docker.io/library/ubuntu-12.04-base', 'docker.io', 'library/ubuntu-12.04-base', 'ubuntu-12.04-base'],
      ['docker.io/library/foo/bar', 'docker.io', 'library/foo/bar', 'library/foo/bar'],
      ['FOO/bar', 'FOO', 'bar', 'FOO/bar'],
      ['test_com/foo', 'docker.io', 'test_com/foo', 'test_com/foo'],
      ['test-com:8080/foo', 'test-com:8080', 'foo', 'test-com:8080/foo'],
      ['xn--n3h.com:18080/foo', 'xn--n3h.com:18080', 'foo', 'xn--n3h.com:18080/foo'],
    ];
    for (const [input, domain, path, familiar] of table) {
      const r = parseReference(input);
      expect([r.domain, r.path, r.familiarName()], input).toEqual([domain, path, familiar]);
    }
    const both = 'busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa';
    expect(parseReference(both).toString()).toBe('docker.io/library/' + both);
    expect(parseReference(both).familiar()).toBe(both);
    expect(() => parseReference('busybox').withTag('-foo')).toThrow(/invalid tag/);
    expect(() => parseReference('busybox').withDigest('foo')).toThrow(/invalid digest/);
  });

  it('parseRepositoryName refuses tags and digests', () => {
    expect(parseRepositoryName('busybox').name).toBe('docker.io/library/busybox');
    expect(() => parseRepositoryName('busybox:1')).toThrow(/must not have a tag/);
  });
});

const component = fc.stringMatching(/^[a-z0-9]{1,6}(?:(?:[._]|__|-{1,3})[a-z0-9]{1,6}){0,2}$/);
const domain = fc.oneof(
  fc.constant(undefined),
  fc.constant('localhost'),
  fc.constant('docker.io'),
  fc.tuple(fc.stringMatching(/^[a-zA-Z0-9]{1,5}(?:\.[a-z0-9]{1,5}){0,2}$/), fc.option(fc.integer({ min: 1, max: 65535 }))).map(
    ([h, p]) => (p === null ? (h.includes('.') ? h : h + '.io') : `${h}:${p}`),
  ),
);
const tag = fc.option(fc.stringMatching(/^[\w][\w.-]{0,20}$/));
const digest = fc.option(fc.stringMatching(/^[a-f0-9]{64}$/).map((h) => `sha256:${h}`));
const referenceString = fc
  .tuple(domain, fc.array(component, { minLength: 1, maxLength: 3 }), tag, digest)
  .map(([d, path, t, dg]) => (d ? d + '/' : '') + path.join('/') + (t !== null ? ':' + t : '') + (dg ? '@' + dg : ''));

describe('reference properties', () => {
  it('parse -> toString -> parse is a fixed point, and familiar() parses back to the same', () => {
    fc.assert(
      fc.property(referenceString, (s) => {
        const ref = parseReference(s);
        const again = parseReference(ref.toString());
        expect(again.toString()).toBe(ref.toString());
        expect(parseReference(ref.familiar()).toString()).toBe(ref.toString());
        expect(ref.toString().length).toBeGreaterThanOrEqual(ref.familiar().length);
      }),
      { numRuns: 500 },
    );
  });

  it('arbitrary input never crashes: it parses or throws InvalidArgument', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[a-zA-Z0-9:@/._-]{0,40}$/)), (s) => {
        try {
          const ref = parseReference(s);
          expect(parseReference(ref.toString()).toString()).toBe(ref.toString());
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidArgumentError);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
