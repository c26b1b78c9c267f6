import { Readable, Transform } from 'node:stream';
import {
  BerthError,
  DigestMismatchError,
  InvalidArgumentError,
  digestOf,
  isNonDistributable,
  parseAnyManifest,
  type Descriptor,
  type Digest,
  type Reference,
} from '@berth/image-format';
import { repositoryScope } from './auth/authorizer.js';
import { limiter } from './limit.js';
import { manifestTarget } from './manifests.js';
import { readErrorBody, statusError } from './registry-error.js';
import { isNetworkError, retryDelay, sleep, type RetryOptions } from './retry.js';
import type { RegistrySession } from './session.js';
import { shortId, type BlobSource, type ProgressEvent } from './sink.js';

export interface PushManifest {
  /** The exact bytes to PUT (their digest is the manifest's digest). */
  bytes: Uint8Array;
  /** Content-Type; default: the document's own `mediaType`. */
  mediaType?: string;
}

export interface PushOptions {
  /** The image manifest (or index) to push under the reference's tag (or digest). */
  manifest: PushManifest;
  /** Child manifests of an index, pushed by digest first. */
  childManifests?: PushManifest[];
  /** The blobs to upload; default: `configDescriptor` + `layers` when given, else those of `manifest` (and of the children). */
  blobs?: Descriptor[];
  configDescriptor?: Descriptor;
  layers?: Descriptor[];
  /** A repository of the same registry that has these blobs: mount instead of uploading. */
  mountFrom?: string;
  /** Upload non-distributable layers too (default false, as Docker). */
  pushNondistributable?: boolean;
  /** Blobs uploaded at once (default 3). */
  concurrency?: number;
  /** Blobs up to this size go in one PUT (default 32 MiB); larger ones in PATCH chunks. */
  monolithicMaxBytes?: number;
  /** Chunk size of a chunked upload (default 32 MiB). */
  chunkBytes?: number;
  onProgress?: (event: ProgressEvent) => void;
  signal?: AbortSignal;
}

export interface PushResult {
  manifestDigest: Digest;
  size: number;
  /** Per blob: what happened. */
  blobs: Array<{ digest: Digest; result: 'exists' | 'mounted' | 'uploaded' }>;
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function blobsOf(bytes: Uint8Array, mediaType: string | undefined): Descriptor[] {
  const parsed = parseAnyManifest(bytes, mediaType);
  if (parsed.kind === 'index') return [];
  return [parsed.manifest.config, ...parsed.manifest.layers];
}

/** Splits a stream into consecutive readables of `size` bytes; each must be read to its end before the next. */
function chunker(src: Readable, size: number): () => Readable {
  const it = src[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let pending: Buffer | undefined;
  return () =>
    Readable.from(
      (async function* () {
        let left = size;
        while (left > 0) {
          let buf = pending;
          pending = undefined;
          if (!buf) {
            const n = await it.next();
            if (n.done) return;
            buf = n.value;
          }
          if (buf.length > left) {
            pending = buf.subarray(left);
            buf = buf.subarray(0, left);
          }
          left -= buf.length;
          yield buf;
        }
      })(),
      { objectMode: false },
    );
}

class Uploader {
  constructor(
    private readonly session: RegistrySession,
    private readonly ref: Reference,
    private readonly source: BlobSource,
    private readonly retry: RetryOptions,
    private readonly opts: PushOptions,
  ) {}

  private scopes(): string[] {
    const s = [repositoryScope(this.ref.path, 'pull,push')];
    if (this.opts.mountFrom) s.push(repositoryScope(this.opts.mountFrom, 'pull'));
    return s;
  }

  private emit(desc: Descriptor, state: ProgressEvent['state'], current: number): void {
    this.opts.onProgress?.({ id: shortId(desc.digest), digest: desc.digest, mediaType: desc.mediaType, state, current, total: desc.size });
  }

  private async exists(desc: Descriptor): Promise<boolean> {
    const res = await this.session.send({
      method: 'HEAD',
      url: `/v2/${this.ref.path}/blobs/${desc.digest}`,
      scopes: this.scopes(),
      signal: this.opts.signal,
    });
    await res.body.dump();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw statusError(res.status, `blob ${desc.digest}`, '');
  }

  /** Starts an upload session; with `mount`, may complete at once (201). */
  private async start(desc: Descriptor, mount: boolean): Promise<{ mounted: true } | { mounted: false; location: string }> {
    const q = mount ? `?mount=${encodeURIComponent(desc.digest)}&from=${encodeURIComponent(this.opts.mountFrom!)}` : '';
    const res = await this.session.send({
      method: 'POST',
      url: `/v2/${this.ref.path}/blobs/uploads/${q}`,
      headers: { 'content-length': '0' },
      scopes: this.scopes(),
      retry: true,
      signal: this.opts.signal,
    });
    if (res.status === 201 && mount) {
      await res.body.dump();
      return { mounted: true };
    }
    if (res.status !== 202) throw statusError(res.status, `upload of ${desc.digest} to ${this.ref.name}`, await readErrorBody(res));
    await res.body.dump();
    const loc = headerValue(res.headers['location']);
    if (!loc) throw new BerthError('Unavailable', `registry ${this.session.registry} gave no upload location`);
    return { mounted: false, location: new URL(loc, res.url).href };
  }

  private withDigest(location: string, digest: Digest): string {
    const u = new URL(location);
    u.searchParams.set('digest', digest);
    return u.href;
  }

  private async upload(desc: Descriptor, location: string): Promise<void> {
    const monolithicMax = this.opts.monolithicMaxBytes ?? 32 * 1024 * 1024;
    let sent = 0;
    // counts what the request actually reads (a 'data' listener would start the flow early)
    const counted = (stream: Readable): Readable => {
      const meter = new Transform({
        transform: (c: Buffer, _e, cb) => {
          sent += c.length;
          this.emit(desc, 'uploading', sent);
          cb(null, c);
        },
      });
      stream.on('error', (e) => meter.destroy(e));
      return stream.pipe(meter);
    };
    if (desc.size <= monolithicMax) {
      const res = await this.session.send({
        method: 'PUT',
        url: this.withDigest(location, desc.digest),
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
        // reopened if the request is sent again (a token refreshed after a 401)
        body: async () => {
          sent = 0;
          return counted(await this.source.open(desc.digest));
        },
        scopes: this.scopes(),
        retry: false,
        signal: this.opts.signal,
      });
      if (res.status !== 201) throw this.uploadError(res.status, desc, await readErrorBody(res));
      await res.body.dump();
      return;
    }
    const chunkSize = Math.max(1, this.opts.chunkBytes ?? 32 * 1024 * 1024);
    const src = await this.source.open(desc.digest);
    try {
      const next = chunker(src, chunkSize);
      let loc = location;
      for (let start = 0; start < desc.size; start += chunkSize) {
        const end = Math.min(desc.size, start + chunkSize) - 1;
        const body = counted(next());
        const res = await this.session.send({
          method: 'PATCH',
          url: loc,
          headers: {
            'content-type': 'application/octet-stream',
            'content-range': `${start}-${end}`,
            'content-length': String(end - start + 1),
          },
          body: () => body,
          scopes: this.scopes(),
          retry: false,
          signal: this.opts.signal,
        });
        if (res.status !== 202) throw this.uploadError(res.status, desc, await readErrorBody(res));
        await res.body.dump();
        const l = headerValue(res.headers['location']);
        if (l) loc = new URL(l, res.url).href;
      }
      const res = await this.session.send({
        method: 'PUT',
        url: this.withDigest(loc, desc.digest),
        headers: { 'content-length': '0' },
        scopes: this.scopes(),
        retry: false,
        signal: this.opts.signal,
      });
      if (res.status !== 201) throw this.uploadError(res.status, desc, await readErrorBody(res));
      await res.body.dump();
    } finally {
      src.destroy();
    }
  }

  private uploadError(status: number, desc: Descriptor, detail: string): BerthError {
    if (status === 400 && /digest invalid/i.test(detail)) {
      return new DigestMismatchError(desc.digest, 'a different digest (registry: digest invalid)', `uploaded blob ${desc.digest}`);
    }
    return statusError(status, `upload of ${desc.digest} to ${this.ref.name}`, detail);
  }

  /** HEAD, then mount, then upload; the whole blob is retried on a broken connection or 5xx. */
  async push(desc: Descriptor): Promise<'exists' | 'mounted' | 'uploaded'> {
    let lastErr: unknown;
    for (let attempt = 0; attempt < this.retry.attempts; attempt++) {
      if (attempt > 0) await sleep(retryDelay(attempt - 1, this.retry), this.opts.signal);
      try {
        if (await this.exists(desc)) {
          this.emit(desc, 'exists', desc.size);
          return 'exists';
        }
        const started = await this.start(desc, this.opts.mountFrom !== undefined && this.opts.mountFrom !== this.ref.path);
        if (started.mounted) {
          this.emit(desc, 'mounted', desc.size);
          return 'mounted';
        }
        this.emit(desc, 'uploading', 0);
        await this.upload(desc, started.location);
        this.emit(desc, 'done', desc.size);
        return 'uploaded';
      } catch (e) {
        const retriable = isNetworkError(e) || (e instanceof BerthError && e.code === 'Unavailable');
        if (!retriable || this.opts.signal?.aborted) throw e;
        lastErr = e;
      }
    }
    throw lastErr;
  }

  async putManifest(m: PushManifest, target: string): Promise<{ digest: Digest; size: number }> {
    const bytes = Buffer.from(m.bytes);
    const parsed = parseAnyManifest(bytes, m.mediaType);
    const mediaType = m.mediaType ?? parsed.mediaType;
    const digest = digestOf(bytes);
    const res = await this.session.send({
      method: 'PUT',
      url: `/v2/${this.ref.path}/manifests/${target}`,
      headers: { 'content-type': mediaType, 'content-length': String(bytes.length) },
      body: () => bytes,
      scopes: this.scopes(),
      retry: true,
      signal: this.opts.signal,
    });
    if (res.status !== 201 && res.status !== 200) {
      throw statusError(res.status, `manifest ${this.ref.name}:${target}`, await readErrorBody(res));
    }
    await res.body.dump();
    const got = headerValue(res.headers['docker-content-digest']);
    if (got && got.startsWith('sha256:') && got !== digest) throw new DigestMismatchError(digest, got, `pushed manifest ${target}`);
    return { digest, size: bytes.length };
  }
}

/**
 * Pushes an image: every blob (HEAD-skipped, mounted or uploaded, `concurrency` at a
 * time), then child manifests by digest, then the manifest under the reference's tag.
 */
export async function pushImage(
  session: RegistrySession,
  ref: Reference,
  source: BlobSource,
  retry: RetryOptions,
  opts: PushOptions,
): Promise<PushResult> {
  if (!opts.manifest?.bytes) throw new InvalidArgumentError('push: manifest bytes are required');
  // the first failed blob stops the others before push() rejects
  const abort = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, abort.signal]) : abort.signal;
  const up = new Uploader(session, ref, source, retry, { ...opts, signal });
  const given = opts.configDescriptor || opts.layers ? [...(opts.configDescriptor ? [opts.configDescriptor] : []), ...(opts.layers ?? [])] : undefined;
  const all =
    opts.blobs ??
    given ??
    [opts.manifest, ...(opts.childManifests ?? [])].flatMap((m) => blobsOf(m.bytes, m.mediaType));
  const seen = new Set<Digest>();
  const blobs = all.filter((d) => {
    if (seen.has(d.digest)) return false;
    seen.add(d.digest);
    return opts.pushNondistributable || !isNonDistributable(d.mediaType);
  });
  for (const d of blobs) opts.onProgress?.({ id: shortId(d.digest), digest: d.digest, mediaType: d.mediaType, state: 'waiting', current: 0, total: d.size });
  const run = limiter(Math.max(1, opts.concurrency ?? 3));
  let firstError: unknown;
  const settled = await Promise.allSettled(
    blobs.map((d) =>
      run(async () => {
        if (signal.aborted) throw signal.reason;
        return { digest: d.digest, result: await up.push(d) };
      }).catch((e: unknown) => {
        firstError ??= e;
        abort.abort(e);
        throw e;
      }),
    ),
  );
  if (firstError !== undefined) throw firstError;
  const results = settled.map((r) => (r as PromiseFulfilledResult<PushResult['blobs'][number]>).value);
  for (const child of opts.childManifests ?? []) await up.putManifest(child, digestOf(Buffer.from(child.bytes)));
  const { digest, size } = await up.putManifest(opts.manifest, manifestTarget(ref));
  if (ref.digest && ref.digest !== digest) throw new DigestMismatchError(ref.digest, digest, `manifest for ${ref.toString()}`);
  return { manifestDigest: digest, size, blobs: results };
}
