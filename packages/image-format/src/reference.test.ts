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
