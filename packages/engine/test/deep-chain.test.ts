import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaType, openOciLayout } from '@berth/image-format';
import { buildLayer, type TestLayer } from '@berth/layer-store/testsuite';
import { Engine } from '../src/index.js';
import { collect, openTestEngine, removeAll, text, type TestEngine } from './helpers.js';
import { linuxDriverSet } from '@berth/driver-linux';

// 70 layers: busybox and /first in the bottom one, /last in the top one. Overlay mount
// data is one page; 70 absolute lowerdirs under a long root do not fit in it.
const DEPTH = 70;
let layoutDir: string;

beforeAll(async () => {
  layoutDir = await mkdtemp('/tmp/be-deep-layout-');
  const layout = await openOciLayout(layoutDir);
  const busybox = await readFile('/bin/busybox');
  const layers: TestLayer[] = [];
  for (let i = 0; i < DEPTH; i++) {
    const entries =
      i === 0
        ? [{ name: 'bin/', type: 'dir' as const }, { name: 'bin/busybox', content: busybox, mode: 0o755 }, { name: 'first', content: 'from the first layer\n' }]
        : i === DEPTH - 1
          ? [{ name: 'last', content: 'from the last layer\n' }]
          : [{ name: `layer-${i}`, content: String(i) }];
    layers.push(buildLayer(entries));
  }
  for (const l of layers) await layout.writeBlob(l.blob, { digest: l.digest, size: l.blob.length });
  const config = await layout.writeJson(
    {
      architecture: process.arch === 'x64' ? 'amd64' : process.arch,
      os: 'linux',
      config: { Cmd: ['/bin/busybox', 'cat', '/first', '/last'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    },
    MediaType.OciConfig,
  );
  const manifest = await layout.writeJson(
    {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config,
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.blob.length })),
    },
    MediaType.OciManifest,
  );
  layout.addManifest(manifest, 'deep:70');
  await layout.save();
});
afterAll(async () => {
  await rm(layoutDir, { recursive: true, force: true });
});

describe(`an image of ${DEPTH} layers`, () => {
  let long: { engine: Engine; dir: string } | undefined;
  let t: TestEngine | undefined;
  afterAll(async () => {
    if (long) {
      await removeAll(long.engine);
      await long.engine.close();
      await rm(long.dir, { recursive: true, force: true });
    }
    await t?.cleanup();
  });

  it('mounts under a root whose absolute lowerdirs exceed a page (create, cp, export)', async () => {
    const dir = await mkdtemp('/tmp/be-deep-');
    const root = join(dir, 'a-rather-long-directory-name-for-the-engine-root-'.repeat(2));
    long = { engine: await Engine.open({ drivers: linuxDriverSet,  root, runRoot: join(dir, 'run') }), dir };
    const img = await long.engine.images.loadLayout(layoutDir, 'deep:70');
    const { Id } = await long.engine.containers.create({ Image: img.Id, HostConfig: { NetworkMode: 'none' } });
    // The page the kernel copies is what plain `mount -o <absolute lowerdirs>` hits.
    const lowerdirs = DEPTH * (join(root, 'snapshots', 'overlay', '00', 'fs').length + 1);
    expect(lowerdirs).toBeGreaterThan(4096);
    expect((await long.engine.containers.archiveStat(Id, '/first')).size).toBe('from the first layer\n'.length);
    expect((await long.engine.containers.archiveStat(Id, '/last')).size).toBe('from the last layer\n'.length);
    const names: string[] = [];
    const { extract } = await import('tar-stream');
    const ex = extract();
    ex.on('entry', (h, s, next) => {
      names.push(h.name);
      s.resume();
      s.on('end', next);
    });
    (await long.engine.containers.export(Id)).pipe(ex);
    await new Promise<void>((res, rej) => ex.on('finish', () => res()).on('error', rej));
    expect(names).toEqual(expect.arrayContaining(['first', 'last', 'layer-1', `layer-${DEPTH - 2}`]));
  });

  it('runs a container that sees a file from the first and the last layer', async () => {
    t = await openTestEngine();
    const img = await t.engine.images.loadLayout(layoutDir, 'deep:70');
    expect(img.RootFS.Layers).toHaveLength(DEPTH);
    const { Id } = await t.engine.containers.create({ Image: img.Id, HostConfig: { NetworkMode: 'none' } });
    const w = t.engine.containers.wait(Id, 'next-exit');
    await t.engine.containers.start(Id);
    expect(await w).toEqual({ StatusCode: 0, Error: null });
    expect(text(await collect(await t.engine.containers.logs(Id, { stdout: true, stderr: true })))).toBe('from the first layer\nfrom the last layer\n');
  });
});
