import { open, stat, type FileHandle } from 'node:fs/promises';
import type { LogEntry } from '@berth/runtime';
import { LineJoiner, parseK8sRecord, type K8sRecord } from './k8s-record.js';

interface LogFollowOptions {
  /** Keep reading while this returns true; checked when the file has no new data. */
  keepGoing: () => Promise<boolean>;
  pollMs?: number;
  /**
   * Settles when the writer has probably stopped (the container exited): the wait between
   * polls ends at once, so a follower sees the end without a poll interval of delay.
   */
  wake?: Promise<unknown>;
}

export interface LogReadOptions {
  /** Where to begin: an index into `files` and a byte offset in it (default the start of the first). */
  start?: { file: number; offset: number };
  /** Follow the last file (the live log) until `keepGoing` says the writer is gone. */
  follow?: LogFollowOptions;
  signal?: AbortSignal;
  /** Unix seconds: entries written before are left out. */
  since?: number;
  /** Unix seconds: the read ends at the first entry written after, or (following) once the clock passes it. */
  until?: number;
}

const CHUNK = 64 * 1024;
/** A record longer than this is not conmon's (it cuts lines at 8 KiB): skipped, so memory stays bounded. */
const MAX_RECORD = 1024 * 1024;

/**
 * Reads entries from k8s-file logs, oldest file first (rotated files, then the live log),
 * in bounded memory whatever their size. With `follow`, the live log is polled for new
 * records, and when it is rotated (renamed away and created again by conmon) the reader
 * finishes the renamed file and goes on in the new one.
 */
export async function* readK8sLog(files: string[], options: LogReadOptions = {}): AsyncGenerator<LogEntry> {
  const joiner = new LineJoiner();
  const sinceMs = options.since !== undefined && options.since > 0 ? options.since * 1000 : undefined;
  const untilMs = options.until !== undefined && options.until > 0 ? options.until * 1000 : undefined;
  let ended = false;
  // entries pass the time window here; `ended` stops the read at the first one past `until`
  const admit = (e: LogEntry): boolean => {
    const t = Date.parse(e.time);
    if (untilMs !== undefined && t > untilMs) {
      ended = true;
      return false;
    }
    return sinceMs === undefined || !(t < sinceMs);
  };
  const first = options.start?.file ?? 0;
  for (let i = first; i < files.length && !ended; i++) {
    const live = i === files.length - 1;
    const reader = new RecordReader(files[i]!, i === first ? (options.start?.offset ?? 0) : 0);
    try {
      if (!(await reader.open(live && options.follow ? options : undefined))) continue;
      for (;;) {
        if (options.signal?.aborted) return;
        const records = await reader.next();
        if (records === undefined) {
          if (!(live && options.follow)) break;
          // nothing new: give out the line still waiting for its newline, then wait
          const p = joiner.flush();
          if (p && admit(p)) yield p;
          if (ended || (untilMs !== undefined && Date.now() > untilMs)) return;
          if (!(await reader.waitForMore(options.follow, options.signal))) break;
          continue;
        }
        for (const r of records) {
          for (const e of joiner.push(r)) {
            if (admit(e)) yield e;
            if (ended) return;
          }
        }
      }
    } finally {
      await reader.close();
    }
  }
  const p = joiner.flush();
  if (p && !ended && admit(p)) yield p;
}

/** Reads whole records from one file, from an offset; following, it also notices a rotation. */
class RecordReader {
  private fh: FileHandle | undefined;
  private pos: number;
  private rest: Buffer = Buffer.alloc(0);
  private readonly buf = Buffer.allocUnsafe(CHUNK);
  private idle = 0;
  private woken = false;
  private awake = false;

  constructor(
    private readonly path: string,
    offset: number,
  ) {
    this.pos = offset;
  }

  /** False when the file does not exist (following: once the writer is gone and it still does not). */
  async open(follow: LogReadOptions | undefined): Promise<boolean> {
    for (;;) {
      try {
        this.fh = await open(this.path, 'r');
        return true;
      } catch {
        // conmon creates the log when the container is created: only a follower waits for it
        if (!follow?.follow || follow.signal?.aborted) return false;
        if (!(await follow.follow.keepGoing())) return false;
        await pause(follow.follow.pollMs ?? 50, undefined, follow.signal);
      }
    }
  }

  /** The next whole records ([] when the bytes read end none), undefined at the end of the file. */
  async next(): Promise<K8sRecord[] | undefined> {
    const { bytesRead } = await this.fh!.read(this.buf, 0, CHUNK, this.pos);
    if (bytesRead === 0) return undefined;
    this.idle = 0;
    this.pos += bytesRead;
    let data = this.rest.length > 0 ? Buffer.concat([this.rest, this.buf.subarray(0, bytesRead)]) : this.buf.subarray(0, bytesRead);
    const out: K8sRecord[] = [];
    let from = 0;
    let nl: number;
    while ((nl = data.indexOf(0x0a, from)) >= 0) {
      const r = parseK8sRecord(data.subarray(from, nl));
      if (r) out.push(r);
      from = nl + 1;
    }
    data = data.subarray(from);
    // an incomplete record waits for its end; kept as a copy, the read buffer is reused
    this.rest = data.length > MAX_RECORD ? Buffer.alloc(0) : Buffer.from(data);
    return out;
  }

  /**
   * Waits for the writer to add more. False when it is gone (after one last read, so
   * nothing written just before it stopped is lost) or the signal aborted. A rotated log
   * (the path now names another file) is read to its end, then the new file is opened.
   */
  async waitForMore(follow: LogFollowOptions, signal: AbortSignal | undefined): Promise<boolean> {
    if (signal?.aborted) return false;
    if (await this.rotated()) return true;
    const more = await follow.keepGoing();
    if (!more) return this.idle++ === 0;
    if (!this.woken && follow.wake) {
      void follow.wake.then(
        () => (this.awake = true),
        () => (this.awake = true),
      );
    }
    // after the wake-up has fired once, plain polling: keepGoing may lag the exit briefly
    await pause(follow.pollMs ?? 50, this.woken ? undefined : follow.wake, signal);
    if (this.awake) this.woken = true;
    return !signal?.aborted;
  }

  /** Switches to the file now at the path when the open one was renamed away and fully read. */
  private async rotated(): Promise<boolean> {
    const now = await stat(this.path).catch(() => undefined);
    if (!now) return false;
    const mine = await this.fh!.stat();
    if (now.ino === mine.ino && now.dev === mine.dev) return false;
    const { bytesRead } = await this.fh!.read(this.buf, 0, 1, this.pos);
    if (bytesRead > 0) return true; // the renamed file got more meanwhile: read it first
    await this.fh!.close();
    this.fh = await open(this.path, 'r');
    this.pos = 0;
    this.rest = Buffer.alloc(0);
    return true;
  }

  async close(): Promise<void> {
    await this.fh?.close().catch(() => undefined);
    this.fh = undefined;
  }
}

function pause(ms: number, wake: Promise<unknown> | undefined, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    void wake?.then(done, done);
  });
}
