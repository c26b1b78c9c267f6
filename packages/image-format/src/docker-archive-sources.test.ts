import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Descriptor } from './descriptor.js';
import { digestOf } from './digest.js';
import { extractDockerArchive, writeDockerArchive } from './docker-archive.js';
import { MediaType } from './media-types.js';
import { TarWriter } from './tar.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-if-sources-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A one-file tar, the body of a layer. */
async function tarOf(name: string, body: string): Promise<Buffer> {
  const w = new TarWriter();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of w.stream as unknown as AsyncIterable<Buffer>) chunks.push(c);
  })();
  await w.addBuffer(name, Buffer.from(body));
  w.finalize();
  await done;
  return Buffer.concat(chunks);
}

describe("docker-archive LayerSources (Docker's record of foreign layers)", () => {
  it('writes a foreign layer descriptor beside its tar and reads it back', async () => {
    const base = await tarOf('Files/a.txt', 'base');
    const top = await tarOf('Files/b.txt', 'top');
    const foreign: Descriptor = {
      mediaType: MediaType.DockerForeignLayerGzip,
      digest: `sha256:${'ab'.repeat(32)}`,
      size: 1234,
      urls: ['https://mcr.microsoft.com/v2/windows/servercore/blobs/sha256:' + 'ab'.repeat(32)],
    };
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'windows', 'os.version': '10.0.20348.2340', rootfs: { type: 'layers', diff_ids: [digestOf(base), digestOf(top)] } }));
    const file = join(dir, 'a.tar');
    await writeDockerArchive(createWriteStream(file), [{
      config,
      repoTags: ['win:1'],
      layers: [
        { diffId: digestOf(base), size: base.length, open: () => Readable.from([base]), source: foreign },
        { diffId: digestOf(top), size: top.length, open: () => Readable.from([top]) },
      ],
    }]);
    const archive = await extractDockerArchive(createReadStream(file), join(dir, 'x'));
    const [image] = archive.images;
    expect(image!.layers[0]!.source).toEqual(foreign);
    expect(image!.layers[1]!.source).toBeUndefined();
    expect(await readFile(image!.layers[0]!.path)).toEqual(base);
    const manifestJson = JSON.parse(await readFile(join(dir, 'x', 'manifest.json'), 'utf8')) as Array<Record<string, unknown>>;
    expect(manifestJson[0]!['LayerSources']).toEqual({ [digestOf(base)]: foreign });
  });

  it('leaves LayerSources out when no layer is foreign, and refuses one that is not foreign', async () => {
    const tar = await tarOf('a.txt', 'a');
    const diffId = digestOf(tar);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] } }));
    const file = join(dir, 'plain.tar');
    await writeDockerArchive(createWriteStream(file), [{ config, layers: [{ diffId, size: tar.length, open: () => Readable.from([tar]) }] }]);
    await extractDockerArchive(createReadStream(file), join(dir, 'p'));
    expect(JSON.parse(await readFile(join(dir, 'p', 'manifest.json'), 'utf8'))[0]).not.toHaveProperty('LayerSources');

    const w = new TarWriter();
    const bad = join(dir, 'bad.tar');
    const done = pipeline(w.stream as unknown as Readable, createWriteStream(bad));
    await w.addBuffer('l/layer.tar', tar);
    await w.addBuffer('c.json', config);
    const notForeign = { mediaType: MediaType.DockerLayerGzip, digest: diffId, size: 1, urls: ['http://x/'] };
    await w.addBuffer('manifest.json', Buffer.from(JSON.stringify([{ Config: 'c.json', Layers: ['l/layer.tar'], LayerSources: { [diffId]: notForeign } }])));
    w.finalize();
    await done;
    await expect(extractDockerArchive(createReadStream(bad), join(dir, 'b'))).rejects.toThrow(/LayerSources.*not a foreign layer/);
  });
});
