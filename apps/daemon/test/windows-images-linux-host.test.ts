import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import tar from 'tar-stream';
import { buildWindowsImage, pushWindowsImage, startRegistry, type RunningRegistry, type WindowsImage } from '@berth/fixtures';
import { startTestDaemon, type TestDaemon } from './support/daemon.js';
import { docker } from './support/docker-cli.js';
import { request } from './support/http.js';

// A Linux berthd refuses Windows images where dockerd 20.10 on Linux does, with its status
// codes and texts. Every expected answer below is what the reference dockerd 20.10.24 gave
// for the same request against the same fixtures (a Windows image from @berth/fixtures in a
// registry on 127.0.0.1, as one manifest and as an index with only a windows/amd64 entry).
// Windows images are handled where a host runs them: windows-layers.test.ts runs their
// round trip through a berthd composed for a Windows host (over the HCS simulator).

const json = { 'content-type': 'application/json' };
const lines = (body: string): Array<Record<string, unknown>> => body.trim().split(/\r?\n/).map((l) => JSON.parse(l) as Record<string, unknown>);

/** A `docker save` archive of the image (as dockerd would write it on Windows). */
async function dockerArchive(img: WindowsImage, tag: string): Promise<Buffer> {
  const p = tar.pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const ended = new Promise<void>((r) => p.on('end', () => r()));
  const add = (name: string, body: Buffer) => new Promise<void>((res, rej) => p.entry({ name }, body, (e) => (e ? rej(e) : res())));
  const hex = img.config.digest.slice('sha256:'.length);
  await add(`${hex}.json`, img.config.bytes);
  const layers: string[] = [];
  for (const t of img.tars) {
    const h = createHash('sha256').update(t).digest('hex');
    await add(`${h}/layer.tar`, t);
    layers.push(`${h}/layer.tar`);
  }
  await add('manifest.json', Buffer.from(JSON.stringify([{ Config: `${hex}.json`, RepoTags: [tag], Layers: layers }])));
  p.finalize();
  await ended;
  return Buffer.concat(chunks);
}

describe('Windows images on a Linux berthd (as dockerd 20.10 on Linux)', () => {
  let t: TestDaemon;
  let reg: RunningRegistry;
  let img: WindowsImage;
  const suffix = Math.random().toString(16).slice(2, 8);
  let repo: string;

  beforeAll(async () => {
    img = await buildWindowsImage();
    reg = await startRegistry();
    repo = `${reg.host}/berth/winonly-${suffix}`;
    await pushWindowsImage(reg.url, `berth/winonly-${suffix}`, 'single', img);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
        manifests: [{ mediaType: img.manifest.mediaType, size: img.manifest.size, digest: img.manifest.digest, platform: { architecture: 'amd64', os: 'windows', 'os.version': img.osVersion } }],
      }),
    );
    const put = await fetch(`${reg.url}/v2/berth/winonly-${suffix}/manifests/list`, { method: 'PUT', body: index, headers: { 'content-type': 'application/vnd.docker.distribution.manifest.list.v2+json' } });
    expect(put.status).toBe(201);
    t = await startTestDaemon();
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
    await reg?.stop();
  });

  const pull = (tag: string, platform?: string) =>
    request(t.socketPath, 'POST', `/v1.41/images/create?fromImage=${encodeURIComponent(repo)}&tag=${tag}${platform ? `&platform=${encodeURIComponent(platform)}` : ''}`);

  const expectNoImages = async () => {
    const list = JSON.parse((await request(t.socketPath, 'GET', '/v1.41/images/json')).body) as Array<{ RepoTags: string[] | null }>;
    expect(list.flatMap((i) => i.RepoTags ?? []).filter((r) => r.includes(suffix))).toEqual([]);
  };

  it('a Windows image manifest: 200, then the error line once the config is in', async () => {
    for (const platform of [undefined, 'windows', 'windows/amd64']) {
      const r = await pull('single', platform);
      expect(r.status, `platform ${platform}`).toBe(200);
      const out = lines(r.body);
      // dockerd names the repository without its registry, as in "Pulling from library/busybox"
      expect(out[0]).toEqual({ status: `Pulling from berth/winonly-${suffix}`, id: 'single' });
      expect(out.at(-1)).toMatchObject({ error: 'image operating system "windows" cannot be used on this platform', errorDetail: { message: 'image operating system "windows" cannot be used on this platform' } });
    }
    await expectNoImages();
  });

  it('an index with only Windows entries: no matching manifest for linux/amd64 (with platform=windows: the OS error)', async () => {
    const r = await pull('list');
    expect(r.status).toBe(200);
    const out = lines(r.body);
    expect(out).toHaveLength(2);
    expect(out[0]).toEqual({ status: `Pulling from berth/winonly-${suffix}`, id: 'list' });
    expect(out[1]).toMatchObject({ error: 'no matching manifest for linux/amd64 in the manifest list entries', errorDetail: { message: 'no matching manifest for linux/amd64 in the manifest list entries' } });
    const w = await pull('list', 'windows');
    expect(w.status).toBe(200);
    expect(lines(w.body).at(-1)).toMatchObject({ error: 'image operating system "windows" cannot be used on this platform' });
    await expectNoImages();
  });

  it('docker pull prints what dockerd prints and exits 1', async () => {
    const single = await docker(t.dockerEnv, ['pull', `${repo}:single`], { timeoutMs: 60_000 });
    expect(single.code).toBe(1);
    expect(single.stderr).toBe('image operating system "windows" cannot be used on this platform\n');
    const list = await docker(t.dockerEnv, ['pull', `${repo}:list`], { timeoutMs: 60_000 });
    expect(list.code).toBe(1);
    expect(list.stdout).toBe(`list: Pulling from berth/winonly-${suffix}\n`);
    expect(list.stderr).toBe('no matching manifest for linux/amd64 in the manifest list entries\n');
  });

  it('docker load of a Windows image: 200 and "cannot load windows image on linux", nothing loaded', async () => {
    const archive = await dockerArchive(img, `berth/winload-${suffix}:x`);
    for (const quiet of ['', '?quiet=1']) {
      const r = await request(t.socketPath, 'POST', `/v1.41/images/load${quiet}`, { body: archive, headers: { 'content-type': 'application/x-tar' } });
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('application/json');
      const out = lines(r.body);
      expect(out).toHaveLength(1);
      expect(out[0]).toMatchObject({ error: 'cannot load windows image on linux', errorDetail: { message: 'cannot load windows image on linux' } });
    }
    await expectNoImages();
  });

  it('import with platform=windows: 400 "operating system is not supported"', async () => {
    const layer = await dockerArchive(img, 'unused:x'); // any tar: dockerd refuses before reading it
    for (const platform of ['windows', 'windows/amd64']) {
      const r = await request(t.socketPath, 'POST', `/v1.41/images/create?fromSrc=-&repo=berth/winimport-${suffix}&tag=x&platform=${encodeURIComponent(platform)}`, {
        body: layer,
        headers: { 'content-type': 'application/x-tar' },
      });
      expect(r.status).toBe(400);
      expect(JSON.parse(r.body)).toEqual({ message: 'operating system is not supported' });
    }
    await expectNoImages();
  });

  it('create with platform=windows from a Linux image: 404, the image does not match the platform', async () => {
    const name = `berth/linux-${suffix}:x`;
    const imported = await request(t.socketPath, 'POST', `/v1.41/images/create?fromSrc=-&repo=berth/linux-${suffix}&tag=x`, { body: await dockerArchive(img, 'unused:x'), headers: { 'content-type': 'application/x-tar' } });
    expect(imported.status).toBe(200);
    for (const platform of ['windows', 'windows/amd64']) {
      const r = await request(t.socketPath, 'POST', `/v1.41/containers/create?platform=${encodeURIComponent(platform)}`, { body: JSON.stringify({ Image: name, Cmd: ['true'] }), headers: json });
      expect(r.status, r.body).toBe(404);
      expect(JSON.parse(r.body)).toEqual({ message: `image with reference ${name} was found but does not match the specified platform: wanted windows/amd64, actual: linux/amd64` });
    }
    const nosuch = await request(t.socketPath, 'POST', '/v1.41/containers/create?platform=windows', { body: JSON.stringify({ Image: `nosuch-${suffix}:latest` }), headers: json });
    expect(nosuch.status).toBe(404);
    expect(JSON.parse(nosuch.body)).toEqual({ message: `No such image: nosuch-${suffix}:latest` });
    await request(t.socketPath, 'DELETE', `/v1.41/images/${encodeURIComponent(name)}`);
  });
});
