import { Readable, Transform, type TransformCallback } from 'node:stream';
import {
  BerthError,
  DigestMismatchError,
  NotFoundError,
  digestOf,
  hostPlatform,
  isNonDistributable,
  selectManifest,
  type Descriptor,
  type Digest,
  type ImageManifest,
  type Platform,
  type Reference,
} from '@berth/image-format';
import { repositoryScope } from './auth/authorizer.js';
import { limiter } from './limit.js';
import { fetchManifest, type FetchedManifest } from './manifests.js';
import { readErrorBody, statusError } from './registry-error.js';
import { isNetworkError, retryDelay, sleep, type RetryOptions } from './retry.js';
import type { RegistrySession } from './session.js';
import { shortId, type BlobSink, type ProgressEvent } from './sink.js';

export interface ResolveOptions {
  /** The platform to pick from an index (default: this host's). */
  platform?: Platform;
  signal?: AbortSignal;
}

/** A reference resolved to one image manifest. */
export interface ResolvedImage {
  /** The image manifest (after picking from an index). */
  manifest: ImageManifest;
  manifestBytes: Buffer;
  manifestDescriptor: Descriptor;
  /** The index or manifest list it was picked from, when the reference named one. */
  index?: { bytes: Buffer; descriptor: Descriptor };
}

export interface PullOptions extends ResolveOptions {
  /** Blobs downloaded at once (default 3). */
  concurrency?: number;
  onProgress?: (event: ProgressEvent) => void;
  /**
   * Called for each layer once it and every layer before it are committed, in order and
   * one at a time: apply layer N here while N+1 downloads. The pull waits for it.
   */
  onLayer?: (layer: Descriptor, index: number) => void | Promise<void>;
  /** Fetch non-distributable (foreign) layers from their `urls` (default true). */
  allowNondistributable?: boolean;
  /** Also write the manifest (and index) into the sink (default true). */
  storeManifests?: boolean;
}

export interface PullResult extends ResolvedImage {
  manifestDigest: Digest;
  config: unknown;
  configDescriptor: Descriptor;
  layers: Descriptor[];
}

export async function resolveImage(session: RegistrySession, ref: Reference, opts: ResolveOptions = {}): Promise<ResolvedImage> {
  const top = await fetchManifest(session, ref, undefined, opts.signal);
  if (top.parsed.kind === 'manifest') {
    return { manifest: top.parsed.manifest, manifestBytes: top.bytes, manifestDescriptor: top.descriptor };
  }
  const chosen = selectManifest(top.parsed.index, opts.platform ?? hostPlatform());
  const child: FetchedManifest = await fetchManifest(session, ref, chosen.digest, opts.signal);
  if (child.parsed.kind !== 'manifest') {
    throw new BerthError('Unsupported', `${ref.toString()}: nested indexes are not supported`);
  }
  return {
    manifest: child.parsed.manifest,
    manifestBytes: child.bytes,
    manifestDescriptor: { ...child.descriptor, ...(chosen.platform ? { platform: chosen.platform } : {}) },
    index: { bytes: top.bytes, descriptor: top.descriptor },
  };
}

/** Fails the stream when more or fewer bytes than `total` pass; reports progress. */
class TransferMeter extends Transform {
  current: number;
  constructor(
    start: number,
    private readonly total: number,
    private readonly onBytes: (n: number) => void,
    private readonly onComplete: () => void,
  ) {
    super({ highWaterMark: 1 << 20 });
    this.current = start;
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.current += chunk.length;
    if (this.current > this.total) {
      cb(new BerthError('DigestMismatch', `blob is larger than its descriptor's ${this.total} bytes`));
      return;
    }
    this.onBytes(this.current);
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    if (this.current < this.total) {
      const e = new BerthError('Unavailable', `transfer ended after ${this.current} of ${this.total} bytes`);
      (e as { retriable?: boolean }).retriable = true;
      cb(e);
      return;
    }
    this.onComplete();
    cb();
  }
}

function isRetriable(e: unknown): boolean {
  if (e instanceof DigestMismatchError) return false;
  if ((e as { retriable?: boolean }).retriable) return true;
  if (isNetworkError(e)) return true;
  return e instanceof BerthError && e.code === 'Unavailable';
}

interface BlobJob {
  desc: Descriptor;
  /** Indexes of the layers this blob is (a layer may repeat); empty for the config. */
  layerIndexes: number[];
}

/** Downloads one blob into the sink, resuming with Range after a broken transfer. */
async function fetchBlob(
  session: RegistrySession,
  ref: Reference,
  desc: Descriptor,
  sink: BlobSink,
  emit: (e: Omit<ProgressEvent, 'id' | 'digest' | 'mediaType' | 'total'>) => void,
  retry: RetryOptions,
  opts: { allowNondistributable: boolean; signal: AbortSignal; onReceived?: () => void },
): Promise<void> {
  const ingestRef = desc.digest;
  const foreign =
    opts.allowNondistributable && isNonDistributable(desc.mediaType) && desc.urls?.length
      ? desc.urls.filter((u) => /^https?:\/\//i.test(u))
      : [];
  let lastErr: unknown;
  for (let attempt = 0; attempt < retry.attempts; attempt++) {
    if (attempt > 0) await sleep(retryDelay(attempt - 1, retry), opts.signal);
    if (opts.signal.aborted) throw opts.signal.reason;
    let offset = await sink.ingestedBytes(ingestRef);
    if (offset >= desc.size) offset = 0;
    const urls = [...foreign, `/v2/${ref.path}/blobs/${desc.digest}`];
    let res: Awaited<ReturnType<RegistrySession['send']>> | undefined;
    for (const url of urls) {
      try {
        const r = await session.send({
          method: 'GET',
          url,
          headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
          scopes: [repositoryScope(ref.path, 'pull')],
          signal: opts.signal,
        });
        if (r.status === 200 || r.status === 206) {
          res = r;
          break;
        }
        const detail = await readErrorBody(r);
        lastErr =
          r.status === 404
            ? new NotFoundError(`blob unknown: ${desc.digest} in ${ref.name}`)
            : statusError(r.status, `blob ${desc.digest}`, detail);
        if (r.status === 416) offset = 0;
      } catch (e) {
        lastErr = e;
        if (url === urls[urls.length - 1] && !isRetriable(e)) throw e;
      }
    }
    if (!res) {
      if (lastErr instanceof BerthError && (lastErr.code === 'NotFound' || lastErr.code === 'Unauthorized' || lastErr.code === 'Forbidden')) {
        throw lastErr;
      }
      continue;
    }
    if (res.status === 206) {
      const cr = /bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
      if (!cr || Number(cr[1]) !== offset) {
        res.body.destroy();
        offset = 0;
        lastErr = new BerthError('Unavailable', 'registry answered a range other than the one asked for');
        continue;
      }
    } else {
      offset = 0;
    }
    const body = res.body;
    const meter = new TransferMeter(
      offset,
      desc.size,
      (current) => emit({ state: 'downloading', current }),
      () => {
        emit({ state: 'verifying', current: desc.size });
        opts.onReceived?.();
      },
    );
    body.on('error', (e) => meter.destroy(e));
    // the sink may not listen yet when an abort breaks the body: never let that crash the process
    meter.on('error', () => {});
    emit({ state: 'downloading', current: offset, ...(offset > 0 ? { resumedFrom: offset } : {}) });
    try {
      await sink.write(ingestRef, { digest: desc.digest, size: desc.size }, body.pipe(meter), { offset });
      emit({ state: 'done', current: desc.size });
      return;
    } catch (e) {
      body.destroy();
      if (!isRetriable(e) || opts.signal.aborted) throw e;
      lastErr = e;
    }
  }
  throw lastErr instanceof Error
    ? lastErr
    : new BerthError('Unavailable', `blob ${desc.digest}: giving up after ${retry.attempts} attempts`);
}

/**
 * Pulls `ref`: resolves it, then streams config and layers into `sink` with bounded
 * concurrency, skipping blobs the sink has, and hands layers to `onLayer` in order as
 * they land. On the first failure every other transfer is aborted before the pull
 * rejects, so nothing is written after it returns.
 */
export async function pullImage(
  session: RegistrySession,
  ref: Reference,
  sink: BlobSink,
  retry: RetryOptions,
  opts: PullOptions = {},
): Promise<PullResult> {
  const resolved = await resolveImage(session, ref, opts);
  const { manifest } = resolved;
  const abort = new AbortController();
  const onOuterAbort = () => abort.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });

  const jobs = new Map<Digest, BlobJob>();
  manifest.layers.forEach((l, i) => {
    const j = jobs.get(l.digest);
    if (j) j.layerIndexes.push(i);
    else jobs.set(l.digest, { desc: l, layerIndexes: [i] });
  });

  const progress = (desc: Descriptor) => (e: Omit<ProgressEvent, 'id' | 'digest' | 'mediaType' | 'total'>) =>
    opts.onProgress?.({ id: shortId(desc.digest), digest: desc.digest, mediaType: desc.mediaType, total: desc.size, ...e });

  // layers handed to onLayer strictly in order
  const committed = new Array<boolean>(manifest.layers.length).fill(false);
  let nextLayer = 0;
  let chain: Promise<void> = Promise.resolve();
  const handOff = () => {
    while (nextLayer < committed.length && committed[nextLayer]) {
      const i = nextLayer++;
      const layer = manifest.layers[i]!;
      if (opts.onLayer) {
        const cb = opts.onLayer;
        chain = chain.then(() => {
          if (abort.signal.aborted) return;
          return cb(layer, i);
        });
        chain.catch((e: unknown) => abort.abort(e));
      }
    }
  };

  const run = limiter(Math.max(1, opts.concurrency ?? 3));
  let firstError: unknown;
  let configBytes: Buffer | undefined;
  const configTask = (async () => {
    const emit = progress(manifest.config);
    try {
      // the config is needed as JSON even when the sink has it: it is small, fetch it again
      const present = await sink.has(manifest.config.digest);
      if (!present) emit({ state: 'waiting', current: 0 });
      configBytes = await run(async () => {
        // small enough to fetch again from the start when a transfer breaks
        for (let attempt = 0; ; attempt++) {
          try {
            return await fetchSmallBlob(session, ref, manifest.config, abort.signal);
          } catch (e) {
            if (!isRetriable(e) || attempt + 1 >= retry.attempts || abort.signal.aborted) throw e;
            await sleep(retryDelay(attempt, retry), abort.signal);
          }
        }
      });
      if (present) emit({ state: 'exists', current: manifest.config.size });
      else {
        await storeBytes(sink, manifest.config, configBytes);
        emit({ state: 'done', current: manifest.config.size });
      }
    } catch (e) {
      firstError ??= e;
      abort.abort(e);
      throw e;
    }
  })();
  const layerTasks = [...jobs.values()].map(async (job) => {
    const emit = progress(job.desc);
    try {
      if (await sink.has(job.desc.digest)) {
        emit({ state: 'exists', current: job.desc.size });
      } else {
        emit({ state: 'waiting', current: 0 });
        // the download slot is held while bytes flow, not while the sink verifies and syncs
        let transfer: Promise<void> | undefined;
        await run(
          () =>
            new Promise<void>((release) => {
              if (abort.signal.aborted) {
                transfer = Promise.reject(abort.signal.reason as Error);
                transfer.catch(() => {}); // awaited below; not unhandled meanwhile
                release();
                return;
              }
              transfer = fetchBlob(session, ref, job.desc, sink, emit, retry, {
                allowNondistributable: opts.allowNondistributable ?? true,
                signal: abort.signal,
                onReceived: release,
              });
              transfer.then(release, release);
              transfer.catch(() => {});
            }),
        );
        await transfer;
      }
      for (const i of job.layerIndexes) committed[i] = true;
      handOff();
    } catch (e) {
      firstError ??= e;
      abort.abort(e);
      throw e;
    }
  });
  const settled = await Promise.allSettled([configTask, ...layerTasks]);
  try {
    if (!firstError) await chain;
  } catch (e) {
    firstError ??= e;
  }
  opts.signal?.removeEventListener('abort', onOuterAbort);
  if (firstError !== undefined || settled.some((s) => s.status === 'rejected')) {
    throw firstError ?? (settled.find((s) => s.status === 'rejected') as PromiseRejectedResult).reason;
  }

  if (opts.storeManifests ?? true) {
    await storeBytes(sink, resolved.manifestDescriptor, resolved.manifestBytes);
    if (resolved.index) await storeBytes(sink, resolved.index.descriptor, resolved.index.bytes);
  }
  let config: unknown;
  try {
    config = JSON.parse(configBytes!.toString('utf8')) as unknown;
  } catch {
    throw new BerthError('InvalidArgument', `config ${manifest.config.digest} of ${ref.toString()} is not JSON`);
  }
  return {
    ...resolved,
    manifestDigest: resolved.manifestDescriptor.digest,
    config,
    configDescriptor: manifest.config,
    layers: manifest.layers,
  };
}

async function storeBytes(sink: BlobSink, desc: Descriptor, bytes: Buffer): Promise<void> {
  if (await sink.has(desc.digest)) return;
  await sink.write(desc.digest, { digest: desc.digest, size: bytes.length }, Readable.from([bytes]));
}

const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

/** GETs a small blob (a config) into memory, digest checked. */
export async function fetchSmallBlob(
  session: RegistrySession,
  ref: Reference,
  desc: Descriptor,
  signal?: AbortSignal,
): Promise<Buffer> {
  if (desc.size > MAX_CONFIG_BYTES) throw new BerthError('InvalidArgument', `blob ${desc.digest} is larger than 8 MiB`);
  const res = await session.send({
    method: 'GET',
    url: `/v2/${ref.path}/blobs/${desc.digest}`,
    scopes: [repositoryScope(ref.path, 'pull')],
    signal,
  });
  if (res.status === 404) {
    await res.body.dump();
    throw new NotFoundError(`blob unknown: ${desc.digest} in ${ref.name}`);
  }
  if (res.status !== 200) throw statusError(res.status, `blob ${desc.digest}`, await readErrorBody(res));
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const c of res.body) {
    total += (c as Buffer).length;
    if (total > desc.size) {
      res.body.destroy();
      break;
    }
    chunks.push(c as Buffer);
  }
  const bytes = Buffer.concat(chunks);
  const actual = digestOf(bytes);
  if (actual !== desc.digest || bytes.length !== desc.size) throw new DigestMismatchError(desc.digest, actual, `blob ${desc.digest}`);
  return bytes;
}
