/**
 * A container's output log as a file of binary records, so bytes stay bytes and readers
 * never hold more than one record:
 *   [u32 length of data][u8 stream][f64 unix ms][data][u32 length of data]
 * The trailing length lets `tail` walk back from the end without reading the whole file.
 * A record holds at most one line (pieces without a newline are records of their own,
 * as the contract's partial lines are) and at most MAX_RECORD bytes.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { LogEntry, LogOptions } from '@berth/runtime';

const HEAD = 13;
const TAIL = 4;
const MAX_RECORD = 16 * 1024;
const STREAMS = ['stdout', 'stderr'] as const;

/** RFC 3339 with nanoseconds (the clock has milliseconds). */
export function nanoTime(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '000000Z');
}

function record(stream: 'stdout' | 'stderr', ms: number, data: Buffer): Buffer {
  const b = Buffer.allocUnsafe(HEAD + data.length + TAIL);
  b.writeUInt32LE(data.length, 0);
  b.writeUInt8(stream === 'stdout' ? 0 : 1, 4);
  b.writeDoubleLE(ms, 5);
  data.copy(b, HEAD);
  b.writeUInt32LE(data.length, HEAD + data.length);
  return b;
}

export class FileLog {
  private writes: Promise<unknown> = Promise.resolve();
  private waiters: (() => void)[] = [];
  /** Bytes handed to write() not yet on disk. */
  backlog = 0;
  /** Open while the container writes; closed when its run ends (close()). */
  private handle: FileHandle | undefined;

  constructor(readonly path: string) {}

  /** Appends in order (each write waits for the one before); resolves once on disk. */
  write(stream: 'stdout' | 'stderr', data: Buffer): Promise<void> {
    const ms = Date.now();
    const parts: Buffer[] = [];
    let start = 0;
    while (start < data.length) {
      const nl = data.indexOf(0x0a, start);
      const end = Math.min(nl < 0 ? data.length : nl + 1, start + MAX_RECORD);
      parts.push(record(stream, ms, data.subarray(start, end)));
      start = end;
    }
    this.backlog += data.length;
    const next = this.writes.then(async () => {
      try {
        this.handle ??= await open(this.path, 'a');
        await this.handle.writev(parts);
      } finally {
        this.backlog -= data.length;
      }
      this.wake();
    });
    this.writes = next.catch(() => undefined);
    return next;
  }

  /** Closes the file after the writes so far; a later write opens it again. */
  close(): Promise<void> {
    const next = this.writes.then(async () => {
      const h = this.handle;
      this.handle = undefined;
      await h?.close();
    });
    this.writes = next.catch(() => undefined);
    return next;
  }

  /** Resolves when every write so far is on disk. */
  flushed(): Promise<void> {
    return this.writes.then(() => undefined);
  }

  wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private changed(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      signal?.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  /** Offset of the first record of the last `tail` lines. */
  private async tailOffset(f: FileHandle, size: number, tail: number): Promise<number> {
    let pos = size;
    let lines = 0;
    let current: { stream: number } | undefined;
    const buf = Buffer.alloc(HEAD);
    while (pos > 0) {
      await f.read(buf, 0, TAIL, pos - TAIL);
      const len = buf.readUInt32LE(0);
      const start = pos - TAIL - len - HEAD;
      await f.read(buf, 0, HEAD, start);
      const stream = buf.readUInt8(4);
      const last = Buffer.alloc(1);
      if (len > 0) await f.read(last, 0, 1, start + HEAD + len - 1);
      const endsLine = len > 0 && last[0] === 0x0a;
      // a record ending in a newline, or one of another stream, closes the line before it
      if (current === undefined || endsLine || current.stream !== stream) {
        if (lines === tail) return pos;
        lines++;
      }
      current = { stream };
      pos = start;
    }
    return 0;
  }

  /** The entries as RuntimeDriver.logs gives them; `running()` says whether a follow waits on. */
  async *read(options: LogOptions, running: () => boolean): AsyncGenerator<LogEntry> {
    await this.flushed();
    let f: FileHandle;
    try {
      f = await open(this.path, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      await (await open(this.path, 'a')).close();
      f = await open(this.path, 'r');
    }
    try {
      const size = (await f.stat()).size;
      let pos = options.tail === undefined ? 0 : options.tail <= 0 ? size : await this.tailOffset(f, size, options.tail);
      const since = options.since !== undefined ? options.since * 1000 : undefined;
      const until = options.until !== undefined ? options.until * 1000 : undefined;
      const head = Buffer.alloc(HEAD);
      for (;;) {
        const wait = options.follow ? this.changed(options.signal) : undefined;
        const end = (await f.stat()).size;
        while (pos + HEAD <= end) {
          await f.read(head, 0, HEAD, pos);
          const len = head.readUInt32LE(0);
          if (pos + HEAD + len + TAIL > end) break;
          const ms = head.readDoubleLE(5);
          const data = Buffer.alloc(len);
          if (len > 0) await f.read(data, 0, len, pos + HEAD);
          pos += HEAD + len + TAIL;
          if (until !== undefined && ms > until) return;
          if (since !== undefined && ms < since) continue;
          yield { stream: STREAMS[head.readUInt8(4)] ?? 'stdout', time: nanoTime(ms), data };
        }
        if (!wait || !running() || options.signal?.aborted) return;
        if (until !== undefined && Date.now() > until) return;
        await Promise.race([wait, new Promise((r) => setTimeout(r, 250))]);
      }
    } finally {
      await f.close();
    }
  }
}
