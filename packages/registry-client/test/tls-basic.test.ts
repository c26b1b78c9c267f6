import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildBusyboxLayout,
  makeHtpasswd,
  makeServerCert,
  makeTempDir,
  makeTestCA,
  pushLayoutWithSkopeo,
  startRegistry,
  type BusyboxLayout,
  type RunningRegistry,
  type TempDir,
} from '@berth/fixtures';
import type { Digest } from '@berth/image-format';
import { DockerConfigCredentialStore, FileBlobStore, RegistryClient, StaticCredentialStore } from '../src/index.js';
import { skopeoRawDigest } from './helpers.js';

const USER = 'alice';
const PASSWORD = 'wonder-land-42';

let reg: RunningRegistry;
let tmp: TempDir;
let bb: BusyboxLayout;
let certsDir: string;
let skopeoCertDir: string;
const clients: RegistryClient[] = [];

function client(opts: ConstructorParameters<typeof RegistryClient>[0]): RegistryClient {
  const c = new RegistryClient(opts);
  clients.push(c);
  return c;
}

beforeAll(async () => {
  tmp = await makeTempDir('rc-tls-');
  const ca = await makeTestCA(join(tmp.path, 'ca'));
  const server = await makeServerCert(ca, join(tmp.path, 'server'), ['127.0.0.1']);
  const htpasswd = await makeHtpasswd(join(tmp.path, 'htpasswd'), USER, PASSWORD);
  [reg, bb] = await Promise.all([startRegistry({ tls: server, htpasswdPath: htpasswd }), buildBusyboxLayout()]);
  certsDir = join(tmp.path, 'certs.d');
  await mkdir(join(certsDir, reg.host), { recursive: true });
  await copyFile(ca.certPath, join(certsDir, reg.host, 'ca.crt'));
  skopeoCertDir = join(certsDir, reg.host);
  await pushLayoutWithSkopeo(bb.layoutDir, 'latest', `${reg.host}/library/busybox:latest`, {
    creds: `${USER}:${PASSWORD}`,
    tlsVerify: true,
    certDir: skopeoCertDir,
  });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await reg?.stop();
  await tmp?.cleanup();
});

describe('TLS registry (test CA in certs.d) with htpasswd Basic auth', () => {
  it('pulls and pushes with credentials from Docker config.json, TLS verified against the certs.d CA', async () => {
    const dockerConfig = join(tmp.path, 'docker', 'config.json');
    await mkdir(join(tmp.path, 'docker'), { recursive: true });
    await writeFile(dockerConfig, JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') } } }));
    const c = client({ certsDir, credentials: new DockerConfigCredentialStore(dockerConfig), loopbackInsecure: false });
    const sink = new FileBlobStore(join(tmp.path, 'pull'));
    const r = await c.pull(`${reg.host}/library/busybox:latest`, sink);
    expect(r.manifestDigest).toBe(bb.manifestDigest);
    expect(await sink.has(bb.layerDigest as Digest)).toBe(true);

    const manifest = await readFile(sink.blobPath(bb.manifestDigest as Digest));
    const pushed = await c.push(`${reg.host}/berth/copy:1`, sink, { manifest: { bytes: manifest } });
    expect(pushed.manifestDigest).toBe(bb.manifestDigest);
    expect(await skopeoRawDigest(`${reg.host}/berth/copy:1`, ['--creds', `${USER}:${PASSWORD}`, '--cert-dir', skopeoCertDir, '--tls-verify=true'])).toBe(
      bb.manifestDigest,
    );
  });

  it('refuses a wrong password with a clear unauthorized error that hides the secret', async () => {
    const c = client({ certsDir, credentials: new StaticCredentialStore({ [reg.host]: { username: USER, password: 'wrong-secret' } }) });
    const err = await c.pull(`${reg.host}/library/busybox:latest`, new FileBlobStore(join(tmp.path, 'x'))).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'Unauthorized' });
    expect((err as Error).message).toMatch(/^unauthorized: /);
    expect((err as Error).message).not.toContain('wrong-secret');
    const anon = client({ certsDir });
    await expect(anon.resolve(`${reg.host}/library/busybox:latest`)).rejects.toMatchObject({
      code: 'Unauthorized',
      message: expect.stringMatching(/^unauthorized: .*no credentials/),
    });
  });

  it('checks a login like docker login does', async () => {
    const c = client({ certsDir });
    await expect(c.login(reg.host, { username: USER, password: PASSWORD })).resolves.toEqual({});
    await expect(c.login(reg.host, { username: USER, password: 'bad-one' })).rejects.toMatchObject({ code: 'Unauthorized' });
  });

  it('verifies TLS: without the CA a secure registry is refused', async () => {
    const c = client({ certsDir: join(tmp.path, 'empty-certs.d'), loopbackInsecure: false });
    const started = Date.now();
    await expect(c.resolve(`${reg.host}/library/busybox:latest`)).rejects.toMatchObject({
      code: 'Unavailable',
      message: expect.stringMatching(/certificate/i),
    });
    expect(Date.now() - started).toBeLessThan(5_000); // not retried: retries would take 7 s or more
  });

  it('treats a loopback registry without a CA as insecure (https unverified), as Docker does', async () => {
    const c = client({
      certsDir: join(tmp.path, 'empty-certs.d'),
      credentials: new StaticCredentialStore({ [reg.host]: { username: USER, password: PASSWORD } }),
    });
    expect((await c.resolve(`${reg.host}/library/busybox:latest`)).manifestDescriptor.digest).toBe(bb.manifestDigest);
  });
});
