// Interop with tools nobody here wrote: skopeo and umoci (Debian packages).
import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGunzip } from 'node:zlib';
import { buildBusyboxLayout, type BusyboxLayout } from '@berth/fixtures';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  archiveImageFromLayout, Digester, extractDockerArchive, layerCompression, normalizeReference, openOciLayout, readOciLayout, writeDockerArchive, type Digest,
} from '../src/index.js';
import { writeTinyImage } from './tiny-image.js';

const run = promisify(execFile);
async function tool(cmd: string, args: string[]): Promise<string> {
  const { stdout } = await run(cmd, args, { maxBuffer: 16 * 1024 * 1024, timeout: 120_000 });
  return stdout;
}
const skopeo = (...args: string[]) => tool('skopeo', ['--insecure-policy', ...args]);

let dir: string;
let busybox: BusyboxLayout;
beforeAll(async () => {
  busybox = await buildBusyboxLayout();
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-if-interop-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('a layout Berth writes', () => {
  it('is read by skopeo inspect and umoci stat/unpack', async () => {
    const layout = await openOciLayout(join(dir, 'layout'));
    const img = await writeTinyImage(layout, 'v1');
    const inspected = JSON.parse(await skopeo('inspect', `oci:${layout.dir}:v1`)) as { Digest: string; Layers: string[]; Architecture: string; Labels: Record<string, string> };
    expect(inspected.Digest).toBe(img.manifest.digest);
    expect(inspected.Layers).toEqual(img.layers.map((l) => l.digest));
    expect(inspected.Labels).toEqual({ seed: 'x' });
    const config = JSON.parse(await skopeo('inspect', '--config', `oci:${layout.dir}:v1`)) as { rootfs: { diff_ids: string[] } };
    expect(config.rootfs.diff_ids).toEqual(img.diffIds);

    const stat = JSON.parse(await tool('umoci', ['stat', '--json', '--image', `${layout.dir}:v1`])) as { history: unknown[] };
    expect(stat.history).toHaveLength(2);
    const bundle = join(dir, 'bundle');
    await tool('umoci', ['unpack', '--image', `${layout.dir}:v1`, bundle]);
    expect(await readFile(join(bundle, 'rootfs', 'hello.txt'), 'utf8')).toBe('hello x\n');
    expect(await readFile(join(bundle, 'rootfs', 'etc', 'motd'), 'utf8')).toBe('second x\n');
  });

  it('re-packed from the busybox fixture is read by skopeo', async () => {
    const src = await readOciLayout(busybox.layoutDir);
    const dst = await openOciLayout(join(dir, 'copy'));
    const image = await src.resolveImage(busybox.tag);
    for (const d of [image.manifest.config, ...image.manifest.layers]) {
      await dst.writeBlob(src.openBlob(d.digest), { digest: d.digest, size: d.size });
    }
    await dst.writeBlob(await src.readBlob(image.descriptor.digest), image.descriptor);
    dst.addManifest(image.descriptor, 'bb');
    await dst.save();
    const inspected = JSON.parse(await skopeo('inspect', `oci:${dst.dir}:bb`)) as { Digest: string };
    expect(inspected.Digest).toBe(busybox.manifestDigest);
  });
});

describe('what skopeo writes', () => {
  it('an OCI layout copied by skopeo is read by Berth', async () => {
    await skopeo('copy', '--quiet', `oci:${busybox.layoutDir}:${busybox.tag}`, `oci:${join(dir, 'dst')}:latest`);
    const layout = await readOciLayout(join(dir, 'dst'));
    expect(layout.list().map((e) => e.refName)).toEqual(['latest']);
    const image = await layout.resolveImage('latest');
    expect(image.descriptor.digest).toBe(busybox.manifestDigest);
    expect(image.manifest.config.digest).toBe(busybox.configDigest);
    expect(image.config.rootfs.diff_ids).toEqual([busybox.diffId]);
  });

  it('a docker-archive written by skopeo is read by Berth', async () => {
    const file = join(dir, 'bb.tar');
    await skopeo('copy', '--quiet', `oci:${busybox.layoutDir}:${busybox.tag}`, `docker-archive:${file}:busybox:latest`);
    const archive = await extractDockerArchive(createReadStream(file), join(dir, 'x'));
    expect(archive.images).toHaveLength(1);
    const [image] = archive.images;
    expect(image!.repoTags.map((t) => normalizeReference(t).familiar())).toEqual(['busybox:latest']);
    expect(image!.config.rootfs.diff_ids).toEqual([busybox.diffId]);
    expect(image!.layers.map((l) => l.diffId)).toEqual([busybox.diffId]);
  });
});

describe('a docker-archive Berth writes', () => {
  it('is copied by skopeo to an OCI layout with the same config and layer digests', async () => {
    const src = await readOciLayout(busybox.layoutDir);
    const source = await archiveImageFromLayout(src, { ref: busybox.tag, repoTags: ['busybox:latest'], scratchDir: join(dir, 'scratch') });
    const file = join(dir, 'save.tar');
    await writeDockerArchive(createWriteStream(file), [source]);

    const inspected = JSON.parse(await skopeo('inspect', `docker-archive:${file}`)) as { Layers: string[]; RepoTags: string[] };
    expect(inspected.Layers).toEqual([busybox.diffId]);
    await skopeo('copy', '--quiet', `docker-archive:${file}`, `oci:${join(dir, 'out')}:tag`);
    const out = await readOciLayout(join(dir, 'out'));
    const image = await out.resolveImage('tag');
    expect(image.manifest.config.digest).toBe(busybox.configDigest);
    // skopeo gzips layers on the way into an OCI layout: compare what they decompress to.
    const diffIds: Digest[] = [];
    for (const l of image.manifest.layers) {
      const d = new Digester();
      const stages = layerCompression(l.mediaType) === 'gzip' ? [createGunzip(), d] : [d];
      await pipeline(out.openBlob(l.digest), ...(stages as [Digester]), async (s: AsyncIterable<Buffer>) => {
        for await (const c of s) void c;
      });
      diffIds.push(d.digest());
    }
    expect(diffIds).toEqual([busybox.diffId]);

    // And the embedded OCI layout (Engine 25+ form) is itself readable by skopeo.
    const archive = await extractDockerArchive(createReadStream(file), join(dir, 'x'));
    expect(archive.format).toBe('oci');
    const again = JSON.parse(await skopeo('inspect', `oci:${join(dir, 'x')}:latest`)) as { Layers: string[] };
    expect(again.Layers).toEqual([busybox.diffId]);
  });
});
