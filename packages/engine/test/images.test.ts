import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBusyboxLayout, pushLayoutWithSkopeo, startRegistry, type RunningRegistry } from '@berth/fixtures';
import { collect, openTestEngine, text, uniq, type TestEngine } from './helpers.js';

let t: TestEngine;
let registry: RunningRegistry;
let fixtureRef: string;

beforeAll(async () => {
  t = await openTestEngine();
  const layout = await buildBusyboxLayout();
  fixtureRef = 'fixture/busybox:1';
  await t.engine.images.loadLayout(layout.layoutDir, undefined).then((img) => t.engine.images.tag(img.Id, fixtureRef));
  registry = await startRegistry();
  await pushLayoutWithSkopeo(layout.layoutDir, 'latest', `${registry.host}/lib/busybox:1`);
});
afterAll(async () => {
  await t?.cleanup();
  await registry?.stop();
});

async function runOutput(image: string, cmd: string[]): Promise<{ code: number; out: string }> {
  const { engine } = t;
  const { Id } = await engine.containers.create({ Image: image, Cmd: cmd, HostConfig: { NetworkMode: 'none' } });
  const w = engine.containers.wait(Id, 'next-exit');
  await engine.containers.start(Id);
  const { StatusCode } = await w;
  const out = text(await collect(await engine.containers.logs(Id, {})));
  await engine.containers.remove(Id);
  return { code: StatusCode, out };
}

describe('images', () => {
  it('loads the fixtures busybox layout and runs it', async () => {
    const img = await t.engine.images.inspect(fixtureRef);
    expect(img.Id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(img.RepoTags).toContain(fixtureRef);
    expect(img.RootFS.Layers).toHaveLength(1);
    expect(await runOutput(fixtureRef, ['echo', 'from-fixture'])).toEqual({ code: 0, out: 'from-fixture\n' });
  });

  it('pulls from a local registry (skopeo pushed it) with Docker progress, then pushes back', async () => {
    const { engine } = t;
    const ref = `${registry.host}/lib/busybox:1`;
    const progress: string[] = [];
    const img = await engine.images.pull(ref, { onProgress: (m) => progress.push(m.status ?? '') });
    expect(img.RepoTags).toContain(ref);
    expect(img.RepoDigests[0]).toMatch(new RegExp(`^${registry.host}/lib/busybox@sha256:`));
    // The layer came with the fixture layout loaded before: Docker says so.
    expect(progress).toContain('Already exists');
    expect(progress.at(-1)).toBe(`Status: Downloaded newer image for ${ref}`);
    const again: string[] = [];
    await engine.images.pull(ref, { onProgress: (m) => again.push(m.status ?? '') });
    expect(again.at(-1)).toBe(`Status: Image is up to date for ${ref}`);
    expect(await runOutput(ref, ['sh', '-c', 'echo pulled'])).toEqual({ code: 0, out: 'pulled\n' });
    const target = `${registry.host}/copy/busybox:2`;
    await engine.images.tag(ref, target);
    const pushed = await engine.images.push(target);
    expect(pushed.digest).toMatch(/^sha256:/);
    await expect(engine.images.pull(`${registry.host}/nope/missing:1`)).rejects.toThrow(/manifest unknown|not found/i);
  });

  it('tags, refuses removing an image in use, removes with force', async () => {
    const { engine } = t;
    const tag = `${uniq('mine')}:v1`;
    await engine.images.tag(fixtureRef, tag);
    const { Id } = await engine.containers.create({ Image: tag, Cmd: ['true'], HostConfig: { NetworkMode: 'none' } });
    await engine.images.tag(fixtureRef, tag.replace(':v1', ':v2'));
    // One of two tags goes without complaint.
    expect(await engine.images.remove(tag.replace(':v1', ':v2'))).toEqual([{ Untagged: tag.replace(':v1', ':v2') }]);
    const img = await engine.images.inspect(tag);
    // The image is used by the container and has other tags: by ID it must be forced.
    await expect(engine.images.remove(img.Id)).rejects.toThrow(/conflict: unable to delete .* \(must be forced\)/);
    // A new image with one tag, used by a container: removing its last tag is refused.
    const imported = await importHelloImage();
    const c2 = await engine.containers.create({ Image: imported, Cmd: ['/hello'], HostConfig: { NetworkMode: 'none' } });
    await expect(engine.images.remove(imported)).rejects.toThrow(/conflict: unable to remove repository reference .* \(must force\) - container [0-9a-f]{12} is using its referenced image/);
    await engine.containers.remove(c2.Id);
    const res = await engine.images.remove(imported);
    expect(res.some((r) => 'Deleted' in r)).toBe(true);
    await expect(engine.images.inspect(imported)).rejects.toThrow(/No such image/);
    await engine.containers.remove(Id);
  });

  async function importHelloImage(): Promise<string> {
    const ref = `${uniq('imported')}:latest`;
    const tar = spawn('tar', ['-C', '/bin', '-cf', '-', 'busybox'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const id = await t.engine.images.importRootfs(tar.stdout, { ref, changes: ['CMD ["/busybox", "echo", "imported"]'] });
    expect(id).toMatch(/^sha256:/);
    return ref;
  }

  it('imports a rootfs tarball with changes and runs it', async () => {
    const ref = await importHelloImage();
    const img = await t.engine.images.inspect(ref);
    expect(img.Config.Cmd).toEqual(['/busybox', 'echo', 'imported']);
    // As Docker's import: the engine version is recorded, the layer's size is its file's.
    expect(img.DockerVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(img.Size).toBe((await stat('/bin/busybox')).size);
    const { Id } = await t.engine.containers.create({ Image: ref, HostConfig: { NetworkMode: 'none' } });
    const w = t.engine.containers.wait(Id, 'next-exit');
    await t.engine.containers.start(Id);
    expect((await w).StatusCode).toBe(0);
    expect(text(await collect(await t.engine.containers.logs(Id, {})))).toBe('imported\n');
    await t.engine.containers.remove(Id);
    await t.engine.images.remove(ref);
  });

  it('commits a container; the new image runs with the change', async () => {
    const { engine } = t;
    const { Id } = await engine.containers.create({ Image: fixtureRef, Cmd: ['sh', '-c', 'echo committed > /marker; rm /bin/vi'], HostConfig: { NetworkMode: 'none' } });
    const w = engine.containers.wait(Id, 'next-exit');
    await engine.containers.start(Id);
    expect((await w).StatusCode).toBe(0);
    const repo = uniq('committed');
    const { Id: imageId } = await engine.images.commit(Id, { repo, tag: 'v1', changes: ['ENV FOO=bar', 'CMD ["cat", "/marker"]'], comment: 'a change' });
    const img = await engine.images.inspect(`${repo}:v1`);
    expect(img.Id).toBe(imageId);
    expect(img.RootFS.Layers).toHaveLength(2);
    expect(img.Config.Env).toContain('FOO=bar');
    const hist = await engine.images.history(imageId);
    expect(hist[0]?.Comment).toBe('a change');
    expect(await runOutput(`${repo}:v1`, ['sh', '-c', 'cat /marker; echo $FOO; test -e /bin/vi || echo vi-gone'])).toEqual({ code: 0, out: 'committed\nbar\nvi-gone\n' });
    await engine.containers.remove(Id);
  });

  it('saves and loads a docker-archive', async () => {
    const { engine } = t;
    const repo = `${uniq('saved')}:1`;
    await engine.images.tag(fixtureRef, repo);
    const chunks: Buffer[] = [];
    for await (const c of engine.images.save([repo])) chunks.push(c as Buffer);
    const archive = Buffer.concat(chunks);
    expect(archive.length).toBeGreaterThan(100_000);
    const { Id } = await engine.images.inspect(repo);
    await engine.images.remove(repo);
    const other = await openTestEngine();
    try {
      const lines = await other.engine.images.load(Readable.from([archive]));
      expect(lines).toEqual([`Loaded image: ${repo}`]);
      expect((await other.engine.images.inspect(repo)).Id).toBe(Id);
      const list = await other.engine.images.list();
      expect(list.map((i) => i.RepoTags).flat()).toContain(repo);
    } finally {
      await other.cleanup();
    }
  });
});
