// Downloading one blob: Range resume, foreign URLs, size checks; and small blobs into memory.
import { Transform, type TransformCallback } from 'node:stream';
import {
  BerthError,
  DigestMismatchError,
  NotFoundError,
  digestOf,
  isNonDistributable,
  type Descriptor,
  type Reference,
} from '@berth/image-format';
import { repositoryScope } from './auth/authorizer.js';
import { readErrorBody, statusError } from './registry-error.js';
import { isNetworkError, retryDelay, sleep, type RetryOptions } from './retry.js';
import type { RegistrySession } from './session.js';
import type { BlobSink, ProgressEvent } from './sink.js';

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

export function isRetriable(e: unknown): boolean {
  if (e instanceof DigestMismatchError) return false;
  if ((e as { retriable?: boolean }).retriable) return true;
  if (isNetworkError(e)) return true;
  return e instanceof BerthError && e.code === 'Unavailable';
}

/** Downloads one blob into the sink, resuming with Range after a broken transfer. */
export async function fetchBlob(
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
    // As Docker: the registry's copy when it has one, then the layer's own urls.
    const urls = [`/v2/${ref.path}/blobs/${desc.digest}`, ...foreign];
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
        const where = url.startsWith('/') ? '' : ` at its url ${new URL(url).origin}${new URL(url).pathname} (not in ${ref.name} either)`;
        lastErr =
          r.status === 404
            ? new NotFoundError(`blob unknown: ${desc.digest} in ${ref.name}${where}`)
            : statusError(r.status, `blob ${desc.digest}${where}`, detail);
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
