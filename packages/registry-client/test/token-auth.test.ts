import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildBusyboxLayout,
  makeTempDir,
  makeTestCA,
  startRegistry,
  type BusyboxLayout,
  type RunningRegistry,
  type TempDir,
} from '@berth/fixtures';
import type { Digest } from '@berth/image-format';
import { FileBlobStore, FileCredentialStore, RegistryClient, StaticCredentialStore } from '../src/index.js';
import { startTokenIssuer, type TokenIssuer } from './token-issuer.js';
import { skopeoPull } from './helpers.js';
const USER = 'bob';
const PASSWORD = 'token-pass-7';

let reg: RunningRegistry;
let issuer: TokenIssuer;
let tmp: TempDir;
let bb: BusyboxLayout;
let source: FileBlobStore;
const clients: RegistryClient[] = [];

function client(opts: ConstructorParameters<typeof RegistryClient>[0] = {}): RegistryClient {
  const c = new RegistryClient({ certsDir: join(tmp.path, 'no-certs'), ...opts });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  tmp = await makeTempDir('rc-token-');
  const ca = await makeTestCA(join(tmp.path, 'signer'), 'berth-token-signer');
  issuer = await startTokenIssuer({ certPath: ca.certPath, keyPath: ca.keyPath, users: { [USER]: PASSWORD }, refreshTokens: { 'refresh-abc': USER } });
  [reg, bb] = await Promise.all([
    startRegistry({ token: { realm: issuer.realm, service: issuer.service, issuer: issuer.issuer, rootCertBundlePath: ca.certPath } }),
    buildBusyboxLayout(),
  ]);
  // a BlobSource with the busybox blobs, as a person's local store would be
  source = new FileBlobStore(join(tmp.path, 'source'));
  const { Readable } = await import('node:stream');
  for (const [digest, path] of [
    [bb.layerDigest, bb.layerPath],
    [bb.configDigest, bb.configPath],
  ] as const) {
    const bytes = await readFile(path);
    await source.write(digest, { digest: digest as Digest, size: bytes.length }, Readable.from([bytes]));
  }
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await reg?.stop();
  await issuer?.close();
  await tmp?.cleanup();
});

describe('registry with token auth (auth.token, JWTs from a test issuer)', () => {
  it('pushes with credentials from the 0600 file store, pulls anonymously, tokens cached per scope', async () => {
    const store = new FileCredentialStore(join(tmp.path, 'berth', 'auth.json'));
    await store.set(reg.host, { username: USER, password: PASSWORD });
    const pusher = client({ credentials: store });
    const manifest = await readFile(bb.manifestPath);
    const before = issuer.stats.issued;
    const pushed = await pusher.push(`${reg.host}/team/busybox:1`, source, { manifest: { bytes: manifest } });
    expect(pushed.manifestDigest).toBe(bb.manifestDigest);
    // one token for repository:team/busybox:pull,push serves every request of the push
    expect(issuer.stats.issued - before).toBe(1);
    expect(issuer.stats.requests.at(-1)).toContain('scope=repository%3Ateam%2Fbusybox%3Apull%2Cpush');

    const anon = client();
    const sink = new FileBlobStore(join(tmp.path, 'pull'));
    const issuedBeforePull = issuer.stats.issued;
    const r = await anon.pull(`${reg.host}/team/busybox:1`, sink);
    expect(r.manifestDigest).toBe(bb.manifestDigest);
    await anon.pull(`${reg.host}/team/busybox:1`, sink);
    expect(issuer.stats.issued - issuedBeforePull).toBe(1);

    // skopeo, a second client, sees the same image (it gets its own token, with credentials)
    const dir = join(tmp.path, 'skopeo');
    expect(await skopeoPull(`${reg.host}/team/busybox:1`, dir, '1', ['--src-creds', `${USER}:${PASSWORD}`])).toBe(bb.manifestDigest);
  });

  it('accepts access_token answers and fetches a new token after expiry', async () => {
    issuer.useAccessTokenField(true);
    issuer.setExpiresIn(1); // cached for less than a second
    try {
      const c = client({ credentials: new StaticCredentialStore({ [reg.host]: { username: USER, password: PASSWORD } }) });
      const before = issuer.stats.issued;
      expect((await c.resolve(`${reg.host}/team/busybox:1`)).manifestDescriptor.digest).toBe(bb.manifestDigest);
      await new Promise((r) => setTimeout(r, 1_100));
      expect((await c.headManifest(`${reg.host}/team/busybox:1`)).digest).toBe(bb.manifestDigest);
      expect(issuer.stats.issued - before).toBe(2);
    } finally {
      issuer.useAccessTokenField(false);
      issuer.setExpiresIn(300);
    }
  });

  it('fetches a fresh token when the registry answers 401 to a cached one', async () => {
    const c = client({ credentials: new StaticCredentialStore({ [reg.host]: { username: USER, password: PASSWORD } }) });
    issuer.corruptNext();
    const before = issuer.stats.issued;
    expect((await c.headManifest(`${reg.host}/team/busybox:1`)).digest).toBe(bb.manifestDigest);
    expect(issuer.stats.issued - before).toBe(2);
  });

  it('exchanges an identity token (OAuth2 refresh-token grant) for push access', async () => {
    const c = client({ credentials: new StaticCredentialStore({ [reg.host]: { identityToken: 'refresh-abc' } }) });
    const pushed = await c.push(`${reg.host}/team/identity:1`, source, { manifest: { bytes: await readFile(bb.manifestPath) } });
    expect(pushed.manifestDigest).toBe(bb.manifestDigest);
    expect(issuer.stats.requests.at(-1)).toMatch(/^POST .*grant_type=refresh_token/);
    const bad = client({ credentials: new StaticCredentialStore({ [reg.host]: { identityToken: 'refresh-wrong' } }) });
    const err = await bad.resolve(`${reg.host}/team/identity:1`).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'Unauthorized', message: expect.stringMatching(/identity token/) });
    expect((err as Error).message).not.toContain('refresh-wrong');
  });

  it('checks a login through the token service and returns its identity token', async () => {
    const c = client();
    const { identityToken } = await c.login(reg.host, { username: USER, password: PASSWORD });
    expect(identityToken).toMatch(/^rt-/);
    await expect(c.login(reg.host, { username: USER, password: 'bad-one' })).rejects.toMatchObject({ code: 'Unauthorized' });
    // The identity token alone is enough afterwards, as `docker login` stores it.
    const withToken = client({ credentials: new StaticCredentialStore({ [reg.host]: { identityToken: identityToken! } }) });
    expect((await withToken.resolve(`${reg.host}/team/busybox:1`)).manifestDescriptor.digest).toMatch(/^sha256:/);
  });

  it('sees a login made after the client started (credentials re-read after a 401)', async () => {
    const store = new FileCredentialStore(join(tmp.path, 'late', 'auth.json'));
    const c = client({ credentials: store });
    const m = { manifest: { bytes: await readFile(bb.manifestPath) } };
    await expect(c.push(`${reg.host}/team/late:1`, source, m)).rejects.toMatchObject({ code: 'Unauthorized' });
    await store.set(reg.host, { username: USER, password: PASSWORD });
    expect((await c.push(`${reg.host}/team/late:1`, source, m)).manifestDigest).toBe(bb.manifestDigest);
  });

  it('refuses a wrong password at the token service, and a push without credentials', async () => {
    const bad = client({ credentials: new StaticCredentialStore({ [reg.host]: { username: USER, password: 'nope-secret' } }) });
    const err = await bad.resolve(`${reg.host}/team/busybox:1`).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'Unauthorized', message: expect.stringMatching(/^unauthorized: .*rejected the credentials \(user "bob"\)/) });
    expect((err as Error).message).not.toContain('nope-secret');

    const anon = client();
    await expect(anon.push(`${reg.host}/team/other:1`, source, { manifest: { bytes: await readFile(bb.manifestPath) } })).rejects.toMatchObject({
      code: 'Unauthorized',
    });
  });

  it('deletes and lists tags with a token', async () => {
    const c = client({ credentials: new StaticCredentialStore({ [reg.host]: { username: USER, password: PASSWORD } }) });
    expect(await c.listTags(`${reg.host}/team/busybox`)).toEqual(['1']);
    await c.deleteManifest(`${reg.host}/team/busybox:1`);
    await expect(c.resolve(`${reg.host}/team/busybox:1`)).rejects.toThrow(`manifest unknown: ${reg.host}/team/busybox:1`);
  });
});
