import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerConfigCredentialStore } from './docker-config.js';
import { FileCredentialStore } from './file-store.js';
import { ChainCredentialStore, StaticCredentialStore, decodeAuth, describeCredentials, encodeAuth } from './store.js';

let dir: string;
let helperPath: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rc-creds-'));
  // A real credential helper speaking Docker's protocol: `get` reads the server URL on stdin.
  const script = `#!/bin/sh
[ "$1" = get ] || exit 2
read -r server
case "$server" in
  helped.example) printf '{"ServerURL":"%s","Username":"helper-user","Secret":"helper-secret"}' "$server" ;;
  https://index.docker.io/v1/) printf '{"ServerURL":"%s","Username":"<token>","Secret":"refresh-tok"}' "$server" ;;
  store-only.example) printf '{"ServerURL":"%s","Username":"store-user","Secret":"store-secret"}' "$server" ;;
  broken.example) echo "boom: keychain locked" >&2; exit 1 ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`;
  helperPath = dir;
  await writeFile(join(dir, 'docker-credential-testhelper'), script);
  await chmod(join(dir, 'docker-credential-testhelper'), 0o755);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('auth encoding', () => {
  it('round-trips base64 user:password, colons in the password included', () => {
    expect(decodeAuth(encodeAuth('u', 'p:a:ss'))).toEqual({ username: 'u', password: 'p:a:ss' });
    expect(decodeAuth(Buffer.from('nocolon').toString('base64'))).toBeUndefined();
  });

  it('describes credentials without the secret', () => {
    const d = describeCredentials({ username: 'alice', password: 'hunter2' });
    expect(d).toContain('alice');
    expect(d).not.toContain('hunter2');
    expect(describeCredentials({ identityToken: 'secret-tok' })).not.toContain('secret-tok');
  });
});

describe('DockerConfigCredentialStore', () => {
  it('reads inline auths (base64 auth, username/password, identity token) and Docker Hub keys', async () => {
    const path = join(dir, 'config-inline.json');
    await writeFile(
      path,
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: encodeAuth('hubuser', 'hubpass') },
          'reg.example:5000': { username: 'plain', password: 'pw' },
          'https://tok.example': { identitytoken: 'idt' },
        },
      }),
    );
    const store = new DockerConfigCredentialStore(path, { path: helperPath });
    expect(await store.get('docker.io')).toEqual({ username: 'hubuser', password: 'hubpass' });
    expect(await store.get('reg.example:5000')).toEqual({ username: 'plain', password: 'pw' });
    expect(await store.get('tok.example')).toEqual({ identityToken: 'idt' });
    expect(await store.get('none.example')).toBeUndefined();
  });

  it('asks credHelpers per registry, then credsStore, through docker-credential-<name> get', async () => {
    const path = join(dir, 'config-helpers.json');
    await writeFile(
      path,
      JSON.stringify({
        credsStore: 'testhelper',
        credHelpers: { 'helped.example': 'testhelper', 'broken.example': 'testhelper' },
        auths: { 'fallback.example': { auth: encodeAuth('fb', 'fbpw') } },
      }),
    );
    const store = new DockerConfigCredentialStore(path, { path: helperPath });
    expect(await store.get('helped.example')).toEqual({ username: 'helper-user', password: 'helper-secret' });
    expect(await store.get('store-only.example')).toEqual({ username: 'store-user', password: 'store-secret' });
    expect(await store.get('docker.io')).toEqual({ identityToken: 'refresh-tok' });
    // the store has nothing: the inline entry is used
    expect(await store.get('fallback.example')).toEqual({ username: 'fb', password: 'fbpw' });
    await expect(store.get('broken.example')).rejects.toThrow(/docker-credential-testhelper failed .*keychain locked/);
  });

  it('reports a missing helper as unavailable, and a missing config as no credentials', async () => {
    const path = join(dir, 'config-missing-helper.json');
    await writeFile(path, JSON.stringify({ credsStore: 'nosuchhelper' }));
    await expect(new DockerConfigCredentialStore(path, { path: helperPath }).get('x.example')).rejects.toMatchObject({
      code: 'Unavailable',
    });
    expect(await new DockerConfigCredentialStore(join(dir, 'absent.json')).get('x.example')).toBeUndefined();
  });
});

describe('FileCredentialStore', () => {
  it('stores logins in a 0600 file, replaces and erases them', async () => {
    const path = join(dir, 'sub', 'auth.json');
    const store = new FileCredentialStore(path);
    expect(await store.get('r.example')).toBeUndefined();
    await store.set('r.example', { username: 'bob', password: 's3cret' });
    await store.set('t.example', { identityToken: 'itok' });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await store.get('r.example')).toEqual({ username: 'bob', password: 's3cret' });
    expect(await store.get('t.example')).toEqual({ identityToken: 'itok' });
    const text = await readFile(path, 'utf8');
    expect(text).not.toContain('s3cret'); // base64, as Docker's file
    await store.erase('r.example');
    expect(await store.get('r.example')).toBeUndefined();
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('chains stores: first hit wins', async () => {
    const a = new StaticCredentialStore({ 'a.example': { username: 'a', password: '1' } });
    const b = new StaticCredentialStore({ 'a.example': { username: 'b', password: '2' }, 'b.example': { username: 'b', password: '2' } });
    const chain = new ChainCredentialStore([a, b]);
    expect((await chain.get('a.example'))?.username).toBe('a');
    expect((await chain.get('b.example'))?.username).toBe('b');
    expect(await chain.get('c.example')).toBeUndefined();
  });
});
