import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { layerTar, writeTinyImage } from '../test/tiny-image.js';
import { canonicalJson } from './canonical-json.js';
import { digestOf } from './digest.js';
import { extractDockerArchive, writeDockerArchive, archiveImageFromLayout } from './docker-archive.js';
import { DigestMismatchError } from './errors.js';
import { MediaType } from './media-types.js';
import { ANNOTATION_REF_NAME, extractOciLayout, openOciLayout, readOciLayout } from './oci-layout.js';
import { TarWriter } from './tar.js';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-if-layout-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function collect(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('OCI layout', () => {
  it('writes, tags, reads back and resolves', async () => {
    const layout = await openOciLayout(join(dir, 'l'));
    const img = await writeTinyImage(layout, 'v1');
    await writeTinyImage(layout, 'v1', { seed: 'y' }); // the tag moves
    const again = await readOciLayout(join(dir, 'l'));
    expect(again.list()).toHaveLength(1);
    expect(again.list()[0]!.refName).toBe('v1');
    expect(again.resolve('v1').digest).not.toBe(img.manifest.digest);
    const resolved = await again.resolveImage();
    expect(resolved.config.config?.Labels?.seed).toBe('y');
    expect(JSON.parse(await readFile(join(dir, 'l', 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    await expect(again.resolveImage('nope')).rejects.toThrow(/no image named "nope" \(has: v1\)/);
  });

  it('descends through an index by platform', async () => {
    const layout = await openOciLayout(join(dir, 'l'));
    const amd = await writeTinyImage(layout, undefined, { platform: { os: 'linux', architecture: 'amd64' } });
    const arm = await writeTinyImage(layout, undefined, { platform: { os: 'linux', architecture: 'arm', variant: 'v6' }, seed: 'arm' });
    const index = await layout.writeJson({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [
        { ...amd.manifest, platform: { os: 'linux', architecture: 'amd64' } },
        { ...arm.manifest, platform: { os: 'linux', architecture: 'arm', variant: 'v6' } },
      ],
    }, MediaType.OciIndex);
    layout.addManifest(index, 'multi');
    await layout.save();
    const r = await (await readOciLayout(layout.dir)).resolveImage('multi', { os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(r.descriptor.digest).toBe(arm.manifest.digest);
    expect(r.config.variant).toBe('v6');
  });

  it('refuses a blob whose digest or size does not match, leaving nothing behind', async () => {
    const layout = await openOciLayout(join(dir, 'l'));
    await expect(layout.writeBlob(Readable.from([Buffer.from('abc')]), { digest: digestOf('abd') })).rejects.toThrow(DigestMismatchError);
    await expect(layout.writeBlob(Buffer.from('abc'), { digest: digestOf('abc'), size: 4 })).rejects.toThrow(/size/);
    expect(await readdir(join(dir, 'l', 'blobs', 'sha256'))).toEqual([]);
    await writeFile(join(dir, 'l', 'blobs', 'sha256', digestOf('abc').slice(7)), 'abd');
    await expect(layout.readBlob(digestOf('abc'))).rejects.toThrow(/digest mismatch/);
  });

  it('gives clear errors for broken layouts', async () => {
    await expect(readOciLayout(join(dir, 'none'))).rejects.toThrow(/no oci-layout file/);
    const layout = await openOciLayout(join(dir, 'l'));
    await writeFile(join(layout.dir, 'index.json'), '{"schemaVersion":2,"manifests":[{"mediaType":"x/y","size":1}]}');
    await expect(readOciLayout(layout.dir)).rejects.toThrow(/index.manifests\[0\].digest: must be a string/);
    await writeFile(join(layout.dir, 'index.json'), '{oops');
    await expect(readOciLayout(layout.dir)).rejects.toThrow(/malformed JSON/);
  });

  it('round-trips through a tar stream, verifying blob names', async () => {
    const layout = await openOciLayout(join(dir, 'l'));
    const img = await writeTinyImage(layout, 'latest');
    const tar = await collect(layout.pack());
    const copy = await extractOciLayout(Readable.from([tar]), join(dir, 'copy'));
    expect(copy.resolve('latest').digest).toBe(img.manifest.digest);
    expect((await copy.resolveImage()).config.rootfs.diff_ids).toEqual(img.diffIds);
    // Tamper with a blob inside the tar: the extraction must notice.
    const tampered = Buffer.from(tar);
    expect(tar.indexOf(Buffer.from(canonicalJson({ imageLayoutVersion: '1.0.0' })))).toBeGreaterThanOrEqual(0);
    const configAt = tar.indexOf(Buffer.from('"Labels":{"seed":"x"}'));
    tampered.write('y', configAt + '"Labels":{"seed":"'.length);
    await expect(extractOciLayout(Readable.from([tampered]), join(dir, 'bad'))).rejects.toThrow(DigestMismatchError);
  });
});

describe('docker-archive', () => {
  it('writes the combined form and reads it back', async () => {
    const layout = await openOciLayout(join(dir, 'l'));
    const img = await writeTinyImage(layout, 'latest');
    const source = await archiveImageFromLayout(layout, { ref: 'latest', repoTags: ['busybox:latest', 'localhost:5000/x/y:1'], scratchDir: join(dir, 'scratch') });
    const file = join(dir, 'a.tar');
    await writeDockerArchive(createWriteStream(file), [source]);
    const archive = await extractDockerArchive(createReadStream(file), join(dir, 'x'));
    expect(archive.format).toBe('oci');
    expect(archive.images).toHaveLength(1);
    const [image] = archive.images;
    expect(image!.repoTags).toEqual(['busybox:latest', 'localhost:5000/x/y:1']);
    expect(image!.configDigest).toBe(img.config.digest);
    expect(image!.layers.map((l) => l.diffId)).toEqual(img.diffIds);
    expect(await readFile(image!.layers[0]!.path)).toEqual(img.tars[0]);
    const manifestJson = JSON.parse(await readFile(join(dir, 'x', 'manifest.json'), 'utf8'));
    expect(manifestJson[0].Config).toBe(`blobs/sha256/${img.config.digest.slice(7)}`);
    const embedded = await readOciLayout(join(dir, 'x'));
    expect(embedded.list().map((e) => [e.refName, e.imageName])).toEqual([
      ['latest', 'docker.io/library/busybox:latest'],
      ['1', 'localhost:5000/x/y:1'],
    ]);
    expect(embedded.list()[0]!.descriptor.annotations?.[ANNOTATION_REF_NAME]).toBe('latest');
    expect((await embedded.resolveImage('docker.io/library/busybox:latest')).config.rootfs.diff_ids).toEqual(img.diffIds);
  });

  it('reads the legacy form with a symlinked duplicate layer and refuses tampering', async () => {
    const tar = await layerTar({ 'a.txt': 'a\n' });
    const diffId = digestOf(tar);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId, diffId] } }));
    const configHex = digestOf(config).slice(7);
    const build = async (layer: Buffer) => {
      const w = new TarWriter();
      const file = join(dir, `legacy-${Math.random()}.tar`);
      const done = pipeline(w.stream as unknown as Readable, createWriteStream(file));
      await w.addBuffer('aaa/layer.tar', layer);
      await w.addBuffer('aaa/VERSION', Buffer.from('1.0'));
      await new Promise<void>((res, rej) => w.stream.entry({ name: 'bbb/layer.tar', type: 'symlink', linkname: '../aaa/layer.tar' }, (e) => (e ? rej(e) : res())));
      await w.addBuffer(`${configHex}.json`, config);
      await w.addBuffer('manifest.json', Buffer.from(JSON.stringify([{ Config: `${configHex}.json`, RepoTags: ['old:1'], Layers: ['aaa/layer.tar', 'bbb/layer.tar'] }])));
      w.finalize();
      await done;
      return file;
    };
    const archive = await extractDockerArchive(createReadStream(await build(tar)), join(dir, 'x'));
    expect(archive.format).toBe('legacy');
    expect(archive.images[0]!.layers.map((l) => l.diffId)).toEqual([diffId, diffId]);
    expect(archive.images[0]!.repoTags).toEqual(['old:1']);
    const bad = Buffer.from(tar);
    bad[600] = bad[600]! ^ 1;
    await expect(extractDockerArchive(createReadStream(await build(bad)), join(dir, 'y'))).rejects.toThrow(/manifest.json\[0\].Layers\[0\]/);
  });

  it('loads a bare OCI layout tar like docker load does', async () => {
    const layout = await openOciLayout(join(dir, 'l'));
    const img = await writeTinyImage(layout, 'latest');
    layout.addManifest(img.manifest, 'full', { 'io.containerd.image.name': 'docker.io/library/tiny:1' });
    await layout.save();
    const archive = await extractDockerArchive(layout.pack(), join(dir, 'x'));
    expect(archive.format).toBe('oci');
    expect(archive.images.map((i) => i.repoTags)).toEqual([[], ['tiny:1']]);
    expect(archive.images[1]!.layers.map((l) => [l.diffId, l.compression])).toEqual(img.diffIds.map((d) => [d, 'gzip']));
  });

  it('stops when the destination fails mid-stream', async () => {
    const layout = await openOciLayout(join(dir, 'l'));
    await writeTinyImage(layout, 'latest', { gzip: false });
    const source = await archiveImageFromLayout(layout, { scratchDir: join(dir, 's') });
    let written = 0;
    const dest = new Writable({
      highWaterMark: 16,
      write(chunk: Buffer, _e, cb) {
        written += chunk.length;
        cb(written > 2048 ? new Error('client went away') : null);
      },
    });
    await expect(writeDockerArchive(dest, [source])).rejects.toThrow(/client went away/);

  });

  it('gives clear errors for truncated tars and a malformed manifest.json', async () => {
    const layout = await openOciLayout(join(dir, 'l'));
    await writeTinyImage(layout, 'latest');
    const tar = await collect(layout.pack());
    await expect(extractDockerArchive(Readable.from([tar.subarray(0, 1500)]), join(dir, 'x'))).rejects.toThrow(/malformed tar: Unexpected end of data/);
    const w = new TarWriter();
    const bytes = collect(Readable.from(w.stream as unknown as AsyncIterable<Buffer>));
    await w.addBuffer('manifest.json', Buffer.from('[{"Config": 5}]'));
    w.finalize();
    await expect(extractDockerArchive(Readable.from([await bytes]), join(dir, 'y'))).rejects.toThrow(/manifest.json\[0\].Config: must be a string/);
    const w2 = new TarWriter();
    const bytes2 = collect(Readable.from(w2.stream as unknown as AsyncIterable<Buffer>));
    await w2.addBuffer('manifest.json', Buffer.from('[{'));
    w2.finalize();
    await expect(extractDockerArchive(Readable.from([await bytes2]), join(dir, 'z'))).rejects.toThrow(/manifest.json: malformed JSON/);
  });

  it('refuses path-escaping entries and path-like tags', async () => {
    const w = new TarWriter();
    const chunks = collect(Readable.from(w.stream as unknown as AsyncIterable<Buffer>));
    await w.addBuffer('../evil', Buffer.from('x'));
    w.finalize();
    await expect(extractDockerArchive(Readable.from([await chunks]), join(dir, 'x'))).rejects.toThrow(/escapes the archive/);
    const layout = await openOciLayout(join(dir, 'l'));
    await writeTinyImage(layout, 'latest', { gzip: false });
    const source = await archiveImageFromLayout(layout, { repoTags: ['busybox:a/b'], scratchDir: join(dir, 's') });
    await expect(writeDockerArchive(createWriteStream(join(dir, 'o.tar')), [source])).rejects.toThrow(/invalid reference format/);
  });
});
