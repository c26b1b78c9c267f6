import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWindowsImage, makeTempDir, startRegistry, type RunningRegistry, type TempDir, type WindowsImage } from '@berth/fixtures';
import { digestOf, type Digest } from '@berth/image-format';
import { FileBlobStore, RegistryClient } from '../src/index.js';

// A Windows image whose base layer is foreign (Docker's foreign media type, with urls), as
// Microsoft published them until 2023: the registry holds the manifest, config and top
// layer, the base layer's bytes come from its url. As moby's Windows puller does, the
// registry's copy wins when it has one; the url is the fallback.

let reg: RunningRegistry;
let tmp: TempDir;
let client: RegistryClient;
let server: Server;
let img: WindowsImage;
const hits: string[] = [];
let serveForeign = true;

async function storeOf(dir: string, withForeign: boolean): Promise<FileBlobStore> {
  const store = new FileBlobStore(join(tmp.path, dir));
  const blobs = [img.config, ...(withForeign ? img.layers : img.layers.slice(1))];
  for (const b of blobs) {
    if (!(await store.has(b.digest as Digest))) await store.write(b.digest, { digest: b.digest as Digest, size: b.size }, Readable.from([b.bytes]));
  }
  return store;
}

beforeAll(async () => {
  tmp = await makeTempDir('rc-foreign-');
  server = createServer((req, res) => {
    hits.push(req.url ?? '');
    if (!serveForeign || req.url !== `/layers/${img.layers[0]!.digest}`) {
      res.writeHead(404).end();
      return;
    }
    const bytes = img.layers[0]!.bytes;
    res.writeHead(200, { 'content-length': bytes.length }).end(bytes);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  img = await buildWindowsImage({ foreignUrl: (d) => `http://127.0.0.1:${port}/layers/${d}` });
  reg = await startRegistry({ allowLayerUrls: ['^http://127\\.0\\.0\\.1:[0-9]+/'] });
  client = new RegistryClient({ certsDir: join(tmp.path, 'no-certs') });
}, 60_000);

afterAll(async () => {
  await client?.close();
  await reg?.stop();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  await tmp?.cleanup();
});

describe('foreign (non-distributable) layers', () => {
  it('are not pushed, and are fetched from their url when the registry has no blob', async () => {
    const ref = `${reg.host}/berth/win-foreign:ltsc2022`;
    const pushed = await client.push(ref, await storeOf('src-a', false), { manifest: { bytes: img.manifest.bytes } });
    expect(pushed.manifestDigest).toBe(img.manifest.digest);
    expect(pushed.blobs.map((b) => b.digest)).not.toContain(img.layers[0]!.digest);
    hits.length = 0;
    const sink = new FileBlobStore(join(tmp.path, 'dst-a'));
    const r = await client.pull(ref, sink);
    expect(r.manifestDigest).toBe(img.manifest.digest);
    expect(hits).toEqual([`/layers/${img.layers[0]!.digest}`]);
    for (const b of img.layers) expect((await readFile(sink.blobPath(b.digest as Digest))).equals(b.bytes)).toBe(true);
  });

  it('come from the registry when it has the blob: the url is not asked', async () => {
    const ref = `${reg.host}/berth/win-foreign-hosted:ltsc2022`;
    const pushed = await client.push(ref, await storeOf('src-b', true), { manifest: { bytes: img.manifest.bytes }, pushNondistributable: true });
    expect(pushed.blobs.map((b) => b.digest)).toContain(img.layers[0]!.digest);
    hits.length = 0;
    const sink = new FileBlobStore(join(tmp.path, 'dst-b'));
    await client.pull(ref, sink);
    expect(hits).toEqual([]);
    expect(digestOf(await readFile(sink.blobPath(img.layers[0]!.digest as Digest)))).toBe(img.layers[0]!.digest);
  });

  it('fail as not found, naming the url, when neither the registry nor the url has them', async () => {
    const ref = `${reg.host}/berth/win-foreign-gone:ltsc2022`;
    await client.push(ref, await storeOf('src-c', false), { manifest: { bytes: img.manifest.bytes } });
    serveForeign = false;
    try {
      const sink = new FileBlobStore(join(tmp.path, 'dst-c'));
      const err = await client.pull(ref, sink).then(() => undefined, (e: unknown) => e as Error & { code?: string });
      expect(err?.code).toBe('NotFound');
      expect(err?.message).toContain(`/layers/${img.layers[0]!.digest}`);
      expect(err?.message).toContain('berth/win-foreign-gone');
    } finally {
      serveForeign = true;
    }
  });
});
