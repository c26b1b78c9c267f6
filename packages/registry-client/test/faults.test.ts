import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, startRegistry, type RunningRegistry, type TempDir } from '@berth/fixtures';
import { DigestMismatchError, MediaType, digestOf, jsonBlob, manifestBlob, type Descriptor } from '@berth/image-format';
import { FileBlobStore, RegistryClient, StaticCredentialStore, type ProgressEvent } from '../src/index.js';

let reg: RunningRegistry;
let tmp: TempDir;
let client: RegistryClient;

/** Pushes a one-layer image whose layer is `layer` (random bytes: the registry does not look inside). */
async function pushImage(name: string, layer: Buffer): Promise<{ ref: string; layer: Descriptor; manifestDigest: string }> {
  const store = new FileBlobStore(join(tmp.path, `src-${name.replace(/\W/g, '_')}`), { fsync: false });
  const layerDesc: Descriptor = { mediaType: MediaType.OciLayerGzip, digest: digestOf(layer), size: layer.length };
  await store.write(layerDesc.digest, layerDesc, Readable.from([layer]));
  const config = jsonBlob({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layerDesc.digest] } }, MediaType.OciConfig);
  await store.write(config.descriptor.digest, config.descriptor, Readable.from([config.bytes]));
  const m = manifestBlob({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: config.descriptor, layers: [layerDesc] } as { mediaType: string });
  const ref = `${reg.host}/${name}:latest`;
  await client.push(ref, store, { manifest: { bytes: m.bytes } });
  return { ref, layer: layerDesc, manifestDigest: m.descriptor.digest };
}

function registryBlobPath(digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(reg.dataDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
}

beforeAll(async () => {
  tmp = await makeTempDir('rc-faults-');
  reg = await startRegistry();
  client = new RegistryClient({ certsDir: join(tmp.path, 'no-certs'), retry: { attempts: 8, baseDelayMs: 200, maxDelayMs: 2_000 } });
});

afterAll(async () => {
  await client?.close();
  await reg?.stop();
  await tmp?.cleanup();
});

describe('faults', () => {
  it('resumes with a Range request after the registry is killed mid-pull and restarted', async () => {
    const img = await pushImage('faults/big', randomBytes(64 * 1024 * 1024));
    const sink = new FileBlobStore(join(tmp.path, 'resume-sink'), { fsync: false });
    const events: ProgressEvent[] = [];
    let restarted: Promise<void> | undefined;
    const r = await client.pull(img.ref, sink, {
      onProgress: (e) => {
        events.push(e);
        if (!restarted && e.digest === img.layer.digest && e.state === 'downloading' && e.current > 8 * 1024 * 1024) {
          // kill the process we started (by PID), then bring it back on the same port and storage
          process.kill(reg.pid, 'SIGKILL');
          restarted = reg.restart();
        }
      },
    });
    await restarted;
    expect(restarted).toBeDefined();
    expect(r.manifestDigest).toBe(img.manifestDigest);
    expect(digestOf(await readFile(sink.blobPath(img.layer.digest)))).toBe(img.layer.digest);
    const resumed = events.find((e) => e.digest === img.layer.digest && e.resumedFrom !== undefined);
    expect(resumed?.resumedFrom).toBeGreaterThan(0);
    expect(resumed!.resumedFrom!).toBeLessThan(img.layer.size);
    expect(events.filter((e) => e.digest === img.layer.digest).at(-1)).toMatchObject({ state: 'done', current: img.layer.size });
  });

  it('resumes from the bytes a sink kept from an earlier, interrupted pull', async () => {
    const layer = randomBytes(2 * 1024 * 1024);
    const img = await pushImage('faults/partial', layer);
    const sink = new FileBlobStore(join(tmp.path, 'partial-sink'), { fsync: false });
    // an earlier pull died after 700000 bytes: the sink keeps them under the ingest ref
    const partial = Readable.from([layer.subarray(0, 700_000)]).pipe(
      new (await import('node:stream')).Transform({
        transform(c, _e, cb) {
          cb(null, c);
        },
        flush(cb) {
          cb(new Error('connection lost'));
        },
      }),
    );
    await expect(sink.write(img.layer.digest, img.layer, partial)).rejects.toThrow('connection lost');
    expect(await sink.ingestedBytes(img.layer.digest)).toBe(700_000);
    const events: ProgressEvent[] = [];
    await client.pull(img.ref, sink, { onProgress: (e) => events.push(e) });
    expect(events.find((e) => e.digest === img.layer.digest && e.state === 'downloading')?.resumedFrom).toBe(700_000);
    expect(digestOf(await readFile(sink.blobPath(img.layer.digest)))).toBe(img.layer.digest);
  });

  it('stops when the caller aborts, keeping the partial download for a later resume', async () => {
    const img = await pushImage('faults/abort', randomBytes(48 * 1024 * 1024));
    const sink = new FileBlobStore(join(tmp.path, 'abort-sink'), { fsync: false });
    const ac = new AbortController();
    const err = await client
      .pull(img.ref, sink, {
        signal: ac.signal,
        onProgress: (e) => {
          if (e.digest === img.layer.digest && e.state === 'downloading' && e.current > 4 * 1024 * 1024) ac.abort(new Error('user cancelled'));
        },
      })
      .catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/cancelled|abort/i);
    expect(await sink.has(img.layer.digest)).toBe(false);
    const kept = await sink.ingestedBytes(img.layer.digest);
    expect(kept).toBeGreaterThan(0);
    const events: ProgressEvent[] = [];
    await client.pull(img.ref, sink, { onProgress: (e) => events.push(e) });
    expect(events.find((e) => e.digest === img.layer.digest && e.resumedFrom !== undefined)?.resumedFrom).toBe(kept);
    expect(digestOf(await readFile(sink.blobPath(img.layer.digest)))).toBe(img.layer.digest);
  });

  it('rejects a blob whose bytes were changed in the registry storage, committing nothing', async () => {
    const img = await pushImage('faults/corrupt', randomBytes(512 * 1024));
    const path = registryBlobPath(img.layer.digest);
    const bytes = await readFile(path);
    bytes[1000] = bytes[1000]! ^ 0xff; // same size, different content
    await writeFile(path, bytes);
    const root = join(tmp.path, 'corrupt-sink');
    const sink = new FileBlobStore(root, { fsync: false });
    const err = await client.pull(img.ref, sink).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect((err as DigestMismatchError).expected).toBe(img.layer.digest);
    expect(await sink.has(img.layer.digest)).toBe(false);
    expect(await sink.ingestedBytes(img.layer.digest)).toBe(0);
    expect(await readdir(join(root, 'ingest')).catch(() => [])).toEqual([]);
  });

  it('follows a blob redirect to another origin without sending it the credentials', async () => {
    const img = await pushImage('faults/redirect', randomBytes(256 * 1024));
    const basic = `Basic ${Buffer.from('carol:pw-carol').toString('base64')}`;
    const cdnSaw: Array<string | undefined> = [];
    const cdn: Server = createServer((req, res) => {
      cdnSaw.push(req.headers.authorization);
      const up = httpRequest(`${reg.url}${req.url}`, { method: req.method }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      });
      up.on('error', () => res.destroy());
      up.end();
    });
    await new Promise<void>((r) => cdn.listen(0, '127.0.0.1', r));
    const cdnUrl = `http://127.0.0.1:${(cdn.address() as AddressInfo).port}`;
    // a registry front that wants Basic auth and sends blob downloads to the "CDN"
    const front: Server = createServer((req, res) => {
      if (req.headers.authorization !== basic) {
        return void res.writeHead(401, { 'www-authenticate': 'Basic realm="front"' }).end();
      }
      if (req.method === 'GET' && /\/blobs\/sha256:/.test(req.url ?? '')) {
        return void res.writeHead(307, { location: `${cdnUrl}${req.url}` }).end();
      }
      const up = httpRequest(`${reg.url}${req.url}`, { method: req.method, headers: { ...req.headers, authorization: '' } }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    const frontHost = `127.0.0.1:${(front.address() as AddressInfo).port}`;
    const c = new RegistryClient({
      certsDir: join(tmp.path, 'no-certs'),
      credentials: new StaticCredentialStore({ [frontHost]: { username: 'carol', password: 'pw-carol' } }),
    });
    try {
      const sink = new FileBlobStore(join(tmp.path, 'redirect-sink'), { fsync: false });
      const r = await c.pull(img.ref.replace(reg.host, frontHost), sink);
      expect(r.manifestDigest).toBe(img.manifestDigest);
      expect(await sink.has(img.layer.digest)).toBe(true);
      expect(cdnSaw.length).toBe(2); // config and layer
      expect(cdnSaw.every((a) => a === undefined)).toBe(true);
    } finally {
      await c.close();
      for (const srv of [front, cdn]) {
        srv.closeAllConnections();
        await new Promise<void>((r) => srv.close(() => r()));
      }
    }
  });

  it('retries 429 and 503 answers, honouring Retry-After', async () => {
    const img = await pushImage('faults/busy', randomBytes(64 * 1024));
    // a fault-injecting proxy in front of the real registry: each blob GET first gets 429, then 503
    const seen = new Map<string, number>();
    const proxy: Server = createServer((req, res) => {
      const isBlob = req.method === 'GET' && /\/blobs\/sha256:/.test(req.url ?? '');
      const n = (seen.get(req.url ?? '') ?? 0) + 1;
      seen.set(req.url ?? '', n);
      if (isBlob && n === 1) return void res.writeHead(429, { 'retry-after': '1' }).end();
      if (isBlob && n === 2) return void res.writeHead(503).end();
      const up = httpRequest(`${reg.url}${req.url}`, { method: req.method, headers: req.headers }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const proxied = new RegistryClient({ certsDir: join(tmp.path, 'no-certs'), retry: { attempts: 4, baseDelayMs: 50, maxDelayMs: 500 } });
    try {
      const ref = img.ref.replace(reg.host, `127.0.0.1:${(proxy.address() as AddressInfo).port}`);
      const started = Date.now();
      const r = await proxied.pull(ref, new FileBlobStore(join(tmp.path, 'busy-sink'), { fsync: false }));
      expect(r.manifestDigest).toBe(img.manifestDigest);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
      const blobGets = [...seen.entries()].filter(([u]) => u.includes('/blobs/'));
      expect(blobGets.length).toBe(2);
      for (const [, n] of blobGets) expect(n).toBe(3);
    } finally {
      await proxied.close();
      proxy.closeAllConnections();
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });
});
