import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildBigImageLayout,
  buildBusyboxLayout,
  makeTempDir,
  pushLayoutWithSkopeo,
  startRegistry,
  type BusyboxLayout,
  type RunningRegistry,
  type TempDir,
} from '@berth/fixtures';
import { MediaType, digestOf, hostPlatform, jsonBlob, manifestBlob, type Descriptor, type Digest } from '@berth/image-format';
import { FileBlobStore, RegistryClient, type ProgressEvent } from '../src/index.js';
import { skopeoInspect, skopeoPull, skopeoRawDigest } from './helpers.js';

let reg: RunningRegistry;
let tmp: TempDir;
let bb: BusyboxLayout;
let client: RegistryClient;

/** manifestBlob for any JSON document that carries its mediaType. */
const mblob = (doc: Record<string, unknown> & { mediaType: string }) => manifestBlob(doc);

/** skopeo copy to the registry converting to Docker schema2 (`--format v2s2`). */
async function pushLayoutWithSkopeoFormat(layoutDir: string, dest: string): Promise<void> {
  await promisify(execFile)(
    'skopeo',
    ['--insecure-policy', 'copy', '--quiet', '--format', 'v2s2', '--dest-tls-verify=false', `oci:${layoutDir}:latest`, `docker://${dest}`],
    { timeout: 120_000 },
  );
}

async function fileDigest(path: string): Promise<string> {
  return digestOf(await readFile(path));
}

async function putBlob(store: FileBlobStore, bytes: Buffer, mediaType: string): Promise<Descriptor> {
  const digest = digestOf(bytes);
  if (!(await store.has(digest))) await store.write(digest, { digest, size: bytes.length }, Readable.from([bytes]));
  return { mediaType, digest, size: bytes.length };
}

beforeAll(async () => {
  tmp = await makeTempDir('rc-plain-');
  [reg, bb] = await Promise.all([startRegistry(), buildBusyboxLayout()]);
  await pushLayoutWithSkopeo(bb.layoutDir, 'latest', `${reg.host}/library/busybox:latest`);
  client = new RegistryClient({ certsDir: join(tmp.path, 'no-certs') });
});

afterAll(async () => {
  await client?.close();
  await reg?.stop();
  await tmp?.cleanup();
});

describe('plain http registry on 127.0.0.1', () => {
  it('pulls what skopeo pushed: same digests, progress per blob, layers handed over in order', async () => {
    const sink = new FileBlobStore(join(tmp.path, 'pull1'));
    const events: ProgressEvent[] = [];
    const handed: Array<[number, string]> = [];
    const r = await client.pull(`${reg.host}/library/busybox:latest`, sink, {
      onProgress: (e) => events.push(e),
      onLayer: async (d, i) => {
        // the layer is committed before it is handed over
        expect(await sink.has(d.digest)).toBe(true);
        handed.push([i, d.digest]);
      },
    });
    expect(r.manifestDigest).toBe(bb.manifestDigest);
    expect(r.configDescriptor.digest).toBe(bb.configDigest);
    expect(r.layers.map((l) => l.digest)).toEqual(bb.layers.map((l) => l.digest));
    expect(handed).toEqual([[0, bb.layerDigest]]);
    expect((r.config as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids).toEqual([bb.diffId]);
    for (const d of [bb.layerDigest, bb.configDigest, bb.manifestDigest]) {
      expect(await fileDigest(sink.blobPath(d as Digest))).toBe(d);
    }
    const states = events.filter((e) => e.digest === bb.layerDigest).map((e) => e.state);
    expect(states[0]).toBe('waiting');
    expect(states).toContain('downloading');
    expect(states.slice(-2)).toEqual(['verifying', 'done']);
    const last = events.filter((e) => e.digest === bb.layerDigest).at(-1)!;
    expect(last).toMatchObject({ id: bb.layerDigest.slice(7, 19), current: bb.layerSize, total: bb.layerSize });

    // a second pull into the same sink downloads nothing
    const again: ProgressEvent[] = [];
    await client.pull(`${reg.host}/library/busybox:latest`, sink, { onProgress: (e) => again.push(e) });
    expect(again.map((e) => e.state)).toEqual(['exists', 'exists']);
  });

  it('downloads at most `concurrency` blobs at once and hands layers over in order, one at a time', async () => {
    const big = await buildBigImageLayout(undefined, { scale: 0.02 });
    await pushLayoutWithSkopeo(big.layoutDir, 'latest', `${reg.host}/bench/big:small`);
    const sink = new FileBlobStore(join(tmp.path, 'big-small'), { fsync: false });
    const active = new Set<string>();
    let maxActive = 0;
    let applying = 0;
    const handed: number[] = [];
    const r = await client.pull(`${reg.host}/bench/big:small`, sink, {
      concurrency: 2,
      onProgress: (e) => {
        if (e.state === 'downloading') active.add(e.digest);
        if (e.state === 'verifying' || e.state === 'done') active.delete(e.digest);
        maxActive = Math.max(maxActive, active.size);
      },
      onLayer: async (_d, i) => {
        expect(applying).toBe(0);
        applying++;
        await new Promise((res) => setTimeout(res, 20)); // "apply" takes a while
        handed.push(i);
        applying--;
      },
    });
    expect(r.manifestDigest).toBe(big.manifestDigest);
    expect(handed).toEqual(big.layers.map((_, i) => i));
    expect(maxActive).toBeGreaterThan(0);
    expect(maxActive).toBeLessThanOrEqual(2);

    // a failing hand-off fails the pull with its own error
    await expect(
      client.pull(`${reg.host}/bench/big:small`, new FileBlobStore(join(tmp.path, 'big-fail'), { fsync: false }), {
        onLayer: (_d, i) => {
          if (i === 1) throw new Error('apply failed');
        },
      }),
    ).rejects.toThrow('apply failed');
  });

  it('resolves by digest, HEADs manifests and streams a verified blob', async () => {
    const byDigest = await client.resolve(`${reg.host}/library/busybox@${bb.manifestDigest}`);
    expect(byDigest.manifestDescriptor.digest).toBe(bb.manifestDigest);
    const head = await client.headManifest(`${reg.host}/library/busybox:latest`);
    expect(head).toMatchObject({ digest: bb.manifestDigest, mediaType: MediaType.OciManifest, size: bb.manifestSize });
    const got = await client.getManifest(`${reg.host}/library/busybox:latest`);
    expect(got.descriptor.digest).toBe(bb.manifestDigest);
    expect(got.parsed.kind).toBe('manifest');
    const h = createHash('sha256');
    for await (const c of await client.getBlob(`${reg.host}/library/busybox`, bb.layerDigest as Digest)) h.update(c as Buffer);
    expect(`sha256:${h.digest('hex')}`).toBe(bb.layerDigest);
  });

  it('names the reference when a tag or repository is unknown', async () => {
    await expect(client.pull(`${reg.host}/library/busybox:nope`, new FileBlobStore(join(tmp.path, 'x')))).rejects.toMatchObject({
      code: 'NotFound',
      message: expect.stringMatching(new RegExp(`^manifest unknown: ${reg.host}/library/busybox:nope`)),
    });
    await expect(client.resolve(`${reg.host}/no/such:tag`)).rejects.toThrow(`manifest unknown: ${reg.host}/no/such:tag`);
    await expect(client.listTags(`${reg.host}/no/such`)).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('pushes an image that skopeo pulls with the same digests (chunked upload), then skips, mounts, lists and deletes', async () => {
    const store = new FileBlobStore(join(tmp.path, 'pull1'));
    const manifestBytes = await readFile(store.blobPath(bb.manifestDigest as Digest));
    const events: ProgressEvent[] = [];
    const ref = `${reg.host}/berth/pushed:v1`;
    const pushed = await client.push(ref, store, {
      manifest: { bytes: manifestBytes },
      monolithicMaxBytes: 64 * 1024, // the ~1 MB layer goes up in PATCH chunks
      chunkBytes: 300_000,
      onProgress: (e) => events.push(e),
    });
    expect(pushed.manifestDigest).toBe(bb.manifestDigest);
    expect(pushed.blobs.map((b) => b.result)).toEqual(['uploaded', 'uploaded']);
    expect(events.filter((e) => e.digest === bb.layerDigest).at(-1)).toMatchObject({ state: 'done', current: bb.layerSize });

    // a person checks with skopeo: same manifest digest, same layers, and a full copy works
    expect(await skopeoRawDigest(ref)).toBe(bb.manifestDigest);
    expect((await skopeoInspect(ref)).Layers).toEqual([bb.layerDigest]);
    const ociDir = join(tmp.path, 'skopeo-out');
    expect(await skopeoPull(ref, ociDir, 'v1')).toBe(bb.manifestDigest);
    expect(await fileDigest(join(ociDir, 'blobs', 'sha256', bb.layerDigest.slice(7)))).toBe(bb.layerDigest);

    const again = await client.push(ref, store, { manifest: { bytes: manifestBytes } });
    expect(again.blobs.map((b) => b.result)).toEqual(['exists', 'exists']);

    const mounted = await client.push(`${reg.host}/berth/mounted:v1`, store, {
      manifest: { bytes: manifestBytes },
      mountFrom: 'berth/pushed',
    });
    expect(mounted.blobs.map((b) => b.result)).toEqual(['mounted', 'mounted']);
    expect(await skopeoRawDigest(`${reg.host}/berth/mounted:v1`)).toBe(bb.manifestDigest);

    // a second tag on a different manifest, then deleted by tag
    const m = JSON.parse(manifestBytes.toString('utf8')) as Record<string, unknown>;
    const v2 = mblob({ ...m, mediaType: MediaType.OciManifest, annotations: { 'org.example.variant': 'v2' } });
    await client.push(`${reg.host}/berth/pushed:v2`, store, { manifest: { bytes: v2.bytes } });
    expect((await client.listTags(`${reg.host}/berth/pushed`)).sort()).toEqual(['v1', 'v2']);
    expect(await client.deleteManifest(`${reg.host}/berth/pushed:v2`)).toBe(v2.descriptor.digest);
    await expect(client.headManifest(`${reg.host}/berth/pushed:v2`)).rejects.toThrow(/manifest unknown/);
    expect((await client.headManifest(`${reg.host}/berth/pushed:v1`)).digest).toBe(bb.manifestDigest);
  });

  it('falls back to an upload when a mount is refused, and pulls Docker schema2 images skopeo converted', async () => {
    const store = new FileBlobStore(join(tmp.path, 'pull1'));
    const manifestBytes = await readFile(store.blobPath(bb.manifestDigest as Digest));
    const r = await client.push(`${reg.host}/berth/nomount:1`, store, { manifest: { bytes: manifestBytes }, mountFrom: 'no/such-repo' });
    expect(r.blobs.map((b) => b.result)).toEqual(['uploaded', 'uploaded']);

    await pushLayoutWithSkopeoFormat(bb.layoutDir, `${reg.host}/library/busybox:v2s2`);
    const served = await skopeoRawDigest(`${reg.host}/library/busybox:v2s2`);
    const sink = new FileBlobStore(join(tmp.path, 'v2s2'), { fsync: false });
    const pulled = await client.pull(`${reg.host}/library/busybox:v2s2`, sink);
    expect(pulled.manifestDigest).toBe(served);
    expect(pulled.manifestDescriptor.mediaType).toBe(MediaType.DockerManifest);
    expect(pulled.layers.map((l) => l.digest)).toEqual([bb.layerDigest]);
  });

  it('resolves an index to the host platform or the one asked for', async () => {
    const store = new FileBlobStore(join(tmp.path, 'pull1'));
    const busyboxManifest = await readFile(store.blobPath(bb.manifestDigest as Digest));
    const otherLayer = await putBlob(store, Buffer.from('not really a tar, but a blob'), MediaType.OciLayer);
    const otherConfig = jsonBlob({ architecture: 's390x', os: 'linux', rootfs: { type: 'layers', diff_ids: [otherLayer.digest] } }, MediaType.OciConfig);
    await putBlob(store, otherConfig.bytes, MediaType.OciConfig);
    const other = mblob({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: otherConfig.descriptor, layers: [otherLayer] });
    const host = hostPlatform();
    const index = mblob({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [
        { mediaType: MediaType.OciManifest, digest: bb.manifestDigest, size: bb.manifestSize, platform: { os: 'linux', architecture: host.architecture } },
        { ...other.descriptor, platform: { os: 'linux', architecture: 's390x' } },
      ],
    });
    const ref = `${reg.host}/berth/multi:latest`;
    await client.push(ref, store, {
      manifest: { bytes: index.bytes },
      childManifests: [{ bytes: busyboxManifest }, { bytes: other.bytes }],
    });
    expect(await skopeoRawDigest(ref)).toBe(index.descriptor.digest);

    const mine = await client.resolve(ref);
    expect(mine.manifestDescriptor.digest).toBe(bb.manifestDigest);
    expect(mine.index?.descriptor.digest).toBe(index.descriptor.digest);
    const sink = new FileBlobStore(join(tmp.path, 'multi'));
    const pulled = await client.pull(ref, sink, { platform: { os: 'linux', architecture: 's390x' } });
    expect(pulled.manifestDigest).toBe(other.descriptor.digest);
    expect(await sink.has(otherLayer.digest)).toBe(true);
    expect(await sink.has(index.descriptor.digest)).toBe(true);
    await expect(client.resolve(ref, { platform: { os: 'windows', architecture: 'amd64' } })).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('fetches a non-distributable layer from its urls', async () => {
    // distribution refuses foreign URLs unless its config allows them
    const cfg = JSON.parse(await readFile(reg.configPath, 'utf8')) as Record<string, unknown>;
    cfg['validation'] = { manifests: { urls: { allow: ['^http://127\\.0\\.0\\.1:[0-9]+/'] } } };
    await writeFile(reg.configPath, JSON.stringify(cfg));
    await reg.restart();

    const foreignBytes = Buffer.from('foreign layer bytes '.repeat(1000));
    let hits = 0;
    const server: Server = createServer((_req, res) => {
      hits++;
      res.writeHead(200, { 'content-length': foreignBytes.length }).end(foreignBytes);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const store = new FileBlobStore(join(tmp.path, 'foreign-src'));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/layer.tar.gz`;
      const foreign: Descriptor = { mediaType: MediaType.OciLayerNonDistributableGzip, digest: digestOf(foreignBytes), size: foreignBytes.length, urls: [url] };
      const layer = await putBlob(store, Buffer.from('a normal layer'), MediaType.OciLayerGzip);
      const config = jsonBlob({ architecture: 'amd64', os: 'windows', rootfs: { type: 'layers', diff_ids: [foreign.digest, layer.digest] } }, MediaType.OciConfig);
      await putBlob(store, config.bytes, MediaType.OciConfig);
      const m = mblob({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: config.descriptor, layers: [foreign, layer] });
      const ref = `${reg.host}/berth/foreign:latest`;
      const pushed = await client.push(ref, store, { manifest: { bytes: m.bytes } });
      expect(pushed.blobs.map((b) => b.digest)).not.toContain(foreign.digest);
      const sink = new FileBlobStore(join(tmp.path, 'foreign-dst'));
      const r = await client.pull(ref, sink);
      expect(r.manifestDigest).toBe(m.descriptor.digest);
      expect(hits).toBe(1);
      expect(await fileDigest(sink.blobPath(foreign.digest))).toBe(foreign.digest);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
