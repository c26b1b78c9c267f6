import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import type { AttachedStdio, AttachOptions, LogEntry, LogOptions } from '@berth/runtime';
import { readK8sLog, type LogReadOptions } from './k8s-log.js';
import { tailStart } from './k8s-tail.js';
import { logFiles, rotateLog } from './log-files.js';

/** What the log side needs to know of a container (a slice of the driver's record). */
interface LoggedContainer {
  id: string;
  bundle: string;
  logPath: string;
  conmonPid: number;
  logLimits?: { maxSize: number; maxFiles: number };
}

/** The driver's view of its containers, for followers and the size watch. */
interface LogHost {
  /** Whether the container (this run of it) still runs; false once it is gone. */
  running(c: LoggedContainer): Promise<boolean>;
  /** Settles when the container exits (or the signal aborts). */
  exited(id: string, signal: AbortSignal): Promise<unknown>;
}

/** Reads, follows and rotates containers' conmon logs (k8s-file, parsed as bytes). */
export class ContainerLogs {
  /** Running containers whose log has size limits. */
  private readonly watched = new Map<string, LoggedContainer>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly host: LogHost) {}

  async *read(c: LoggedContainer, options: LogOptions): AsyncIterable<LogEntry> {
    const files = await logFiles(c.logPath);
    const readOpts: LogReadOptions = {};
    if (options.signal) readOpts.signal = options.signal;
    if (options.since !== undefined) readOpts.since = options.since;
    if (options.until !== undefined) readOpts.until = options.until;
    if (options.tail !== undefined && options.tail >= 0) readOpts.start = await tailStart(files, options.tail);
    const ctl = new AbortController();
    if (options.follow) readOpts.follow = { keepGoing: () => this.host.running(c), wake: exitedOrAborted(this.host, c.id, ctl.signal) };
    try {
      yield* readK8sLog(files, readOpts);
    } finally {
      ctl.abort();
    }
  }

  /**
   * An output-only attach: what the container writes from now on, read from its log, so
   * that detaching never closes the container's stdin. Ends when the container exits.
   */
  async attachOutput(c: LoggedContainer, options: AttachOptions): Promise<AttachedStdio> {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const ctl = new AbortController();
    const offset = await stat(c.logPath).then((s) => s.size).catch(() => 0);
    void (async () => {
      try {
        const files = await logFiles(c.logPath);
        for await (const e of readK8sLog(files, {
          start: { file: files.length - 1, offset },
          signal: ctl.signal,
          follow: { keepGoing: () => this.host.running(c), wake: exitedOrAborted(this.host, c.id, ctl.signal) },
        })) {
          if ((e.stream === 'stdout' && options.stdout === false) || (e.stream === 'stderr' && options.stderr === false)) continue;
          await writeWithBackpressure(e.stream === 'stdout' ? stdout : stderr, e.data);
        }
      } catch {
        // container removed while following
      }
      stdout.end();
      stderr.end();
    })();
    return { stdin: null, stdout, stderr, close: () => ctl.abort() };
  }

  /** Rotates a running container's log past its max-size (checked every 2 s: the size can only be polled). */
  watch(c: LoggedContainer): void {
    if (!c.logLimits) return;
    this.watched.set(c.id, c);
    this.timer ??= setInterval(() => {
      for (const [id, w] of this.watched) {
        void (async () => {
          if (!(await this.host.running(w).catch(() => false))) {
            this.watched.delete(id);
            return;
          }
          await rotateLog(w.logPath, join(w.bundle, 'ctl'), w.logLimits!.maxSize, w.logLimits!.maxFiles);
        })().catch(() => undefined);
      }
      if (this.watched.size === 0) this.close();
    }, 2000);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.watched.clear();
  }
}

/** Writes and, when the reader is behind, waits for it (or for the stream to close), so a fast log cannot fill memory. */
export async function writeWithBackpressure(out: Writable, data: Buffer): Promise<void> {
  if (out.destroyed || out.write(data)) return;
  await new Promise<void>((resolve) => {
    const done = (): void => {
      out.off('drain', done);
      out.off('close', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
  });
}

/**
 * The wake-up of a follower. It rejects when the follow is aborted, which may happen before
 * the reader ever awaits it (a client gone at once): handled here, never an unhandled rejection.
 */
function exitedOrAborted(host: LogHost, id: string, signal: AbortSignal): Promise<unknown> {
  const p = host.exited(id, signal);
  p.catch(() => undefined);
  return p;
}
