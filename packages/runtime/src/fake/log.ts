import type { LogEntry, LogOptions } from '../driver.js';

/** RFC 3339 with nanoseconds (the clock only has milliseconds). */
export function nanoTime(ms = Date.now()): string {
  return new Date(ms).toISOString().replace('Z', '000000Z');
}

/**
 * A container's output log in memory: entries cut at newlines (a piece without one is an
 * entry of its own, as a real monitor records partial lines), readers woken on writes.
 * Memory is the test's: the fake keeps every byte.
 */
export class FakeLog {
  readonly entries: LogEntry[] = [];
  private waiters: (() => void)[] = [];

  write(stream: 'stdout' | 'stderr', data: Buffer): void {
    const time = nanoTime();
    let start = 0;
    while (start < data.length) {
      const nl = data.indexOf(0x0a, start);
      const end = nl < 0 ? data.length : nl + 1;
      this.entries.push({ stream, time, data: Buffer.from(data.subarray(start, end)) });
      start = end;
    }
    this.wake();
  }

  wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private changed(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      signal?.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  /** Index of the first entry of the last `tail` lines (a line: pieces of one stream up to a newline). */
  private tailStart(tail: number): number {
    let lines = 0;
    let i = this.entries.length;
    while (i > 0 && lines < tail) {
      i--;
      // walk back over the pieces of this line: earlier entries of the same stream without a newline
      while (i > 0) {
        const prev = this.entries[i - 1]!;
        if (prev.stream !== this.entries[i]!.stream || prev.data[prev.data.length - 1] === 0x0a) break;
        i--;
      }
      lines++;
    }
    return i;
  }

  /** Reads as RuntimeDriver.logs does; `running()` says whether a follow keeps waiting. */
  async *read(options: LogOptions, running: () => boolean): AsyncGenerator<LogEntry> {
    let i = options.tail !== undefined ? this.tailStart(Math.max(0, options.tail)) : 0;
    if (options.tail === 0) i = this.entries.length;
    const since = options.since !== undefined ? options.since * 1000 : undefined;
    const until = options.until !== undefined ? options.until * 1000 : undefined;
    for (;;) {
      while (i < this.entries.length) {
        const e = this.entries[i++]!;
        const at = Date.parse(e.time);
        if (until !== undefined && at > until) return;
        if (since !== undefined && at < since) continue;
        yield e;
      }
      if (!options.follow || !running() || options.signal?.aborted) return;
      if (until !== undefined && Date.now() > until) return;
      await this.changed(options.signal);
    }
  }
}
