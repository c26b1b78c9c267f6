import { open } from 'node:fs/promises';
import type { LogEntry } from '@berth/runtime';

/** Parses one k8s-file line: `2026-11-27T04:04:42.894804476+00:00 stdout F text`. */
export function parseK8sLogLine(line: string): LogEntry | undefined {
  const a = line.indexOf(' ');
  const b = line.indexOf(' ', a + 1);
  const c = line.indexOf(' ', b + 1);
  if (a < 0 || b < 0) return undefined;
  const stream = line.slice(a + 1, b);
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  const tag = c < 0 ? line.slice(b + 1) : line.slice(b + 1, c);
  return {
    time: line.slice(0, a),
    stream,
    partial: tag.split(':').includes('P'),
    line: c < 0 ? '' : line.slice(c + 1),
  };
}

export interface LogFollowOptions {
  /** Start at this byte offset (default 0). */
  offset?: number;
  /** Keep reading while this returns true; checked when the file has no new data. */
  keepGoing?: () => Promise<boolean>;
  signal?: AbortSignal;
  pollMs?: number;
  /**
   * Settles when the writer has probably stopped (the container exited): the wait between
   * polls ends at once, so a follower sees the end without a poll interval of delay.
   */
  wake?: Promise<unknown>;
}

/** Reads entries from a k8s-file log, optionally following it. */
export async function* readK8sLog(path: string, options: LogFollowOptions = {}): AsyncGenerator<LogEntry> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch {
    return;
  }
  try {
    let pos = options.offset ?? 0;
    let rest = '';
    const buf = Buffer.alloc(64 * 1024);
    let idle = 0;
    // after the wake-up has fired once, plain polling: keepGoing may lag the exit briefly
    let woken = false;
    let awake = false;
    void options.wake?.then(
      () => (awake = true),
      () => (awake = true),
    );
    for (;;) {
      if (options.signal?.aborted) return;
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead > 0) {
        idle = 0;
        pos += bytesRead;
        rest += buf.toString('utf8', 0, bytesRead);
        let nl;
        while ((nl = rest.indexOf('\n')) >= 0) {
          const entry = parseK8sLogLine(rest.slice(0, nl));
          rest = rest.slice(nl + 1);
          if (entry) yield entry;
        }
        continue;
      }
      if (!options.keepGoing) return;
      // one last read after the writer stopped, so nothing written just before is lost
      const more = await options.keepGoing();
      if (!more) {
        if (idle++ > 0) return;
        continue;
      }
      await pause(options.pollMs ?? 50, woken ? undefined : options.wake);
      if (awake) woken = true;
    }
  } finally {
    await fh.close();
  }
}

function pause(ms: number, wake: Promise<unknown> | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    void wake?.then(
      () => (clearTimeout(timer), resolve()),
      () => (clearTimeout(timer), resolve()),
    );
  });
}
