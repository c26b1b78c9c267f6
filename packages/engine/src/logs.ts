import { Readable } from 'node:stream';
import { isBerthError } from '@berth/image-format';
import type { RuntimeDriver } from '@berth/runtime';
import type { OutputChunk } from './docker-types.js';
import type { LogsOptions } from './services.js';

/**
 * A container's log as an object-mode Readable of OutputChunk, read from the runtime
 * driver (which owns the log's format, rotation and tail). Bytes pass as they are; the
 * stream pulls one entry at a time, so a log of any size costs no more than a few lines
 * of memory. `runtimeId` undefined: no run yet, nothing to read.
 */
export function readLogs(driver: RuntimeDriver, runtimeId: string | undefined, opts: LogsOptions): Readable {
  const wantOut = opts.stdout ?? true;
  const wantErr = opts.stderr ?? true;
  const tail = opts.tail === undefined || opts.tail === 'all' || opts.tail < 0 ? undefined : opts.tail;
  const abort = new AbortController();
  const onAbort = (): void => abort.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  async function* chunks(): AsyncGenerator<OutputChunk> {
    if (runtimeId === undefined || abort.signal.aborted) return;
    try {
      for await (const e of driver.logs(runtimeId, {
        ...(opts.follow ? { follow: true } : {}),
        ...(tail !== undefined ? { tail } : {}),
        ...(opts.since !== undefined && opts.since > 0 ? { since: opts.since } : {}),
        ...(opts.until !== undefined && opts.until > 0 ? { until: opts.until } : {}),
        signal: abort.signal,
      })) {
        if (e.stream === 'stdout' ? !wantOut : !wantErr) continue;
        yield { stream: e.stream, data: e.data, timestamp: e.time };
      }
    } catch (err) {
      // the run was deleted meanwhile (the container is being removed): its log went with it
      if (!(isBerthError(err) && err.code === 'NotFound')) throw err;
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }
  const out = Readable.from(chunks(), { objectMode: true, highWaterMark: 16 });
  // a client that goes away ends the driver's follow too
  out.once('close', () => abort.abort());
  return out;
}
