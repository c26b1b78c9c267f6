import { Writable } from 'node:stream';
import { BerthError } from '@berth/image-format';
import { DEFAULT_DETACH_KEYS, DetachKeyWatcher, parseDetachKeys } from '@berth/engine-api';
import type { AttachSession } from '../services.js';

/**
 * Docker's daemon side of detach keys: typed into an attached TTY, they end the attach
 * (the client's connection closes) and the container runs on. Bytes before them reach
 * the container; the keys themselves do not.
 */
export function withDetachKeys(
  session: AttachSession,
  keys: readonly number[],
  opts: { terminal?: boolean; onDetach?: () => void } = {},
): AttachSession {
  const inner = session.stdin;
  // The process's terminal decides (an exec's output may be framed while it has a TTY).
  if (!(opts.terminal ?? session.tty) || !inner || keys.length === 0) return session;
  const onDetach = opts.onDetach ?? (() => session.close());
  const watcher = new DetachKeyWatcher(keys);
  let detached = false;
  const stdin = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (detached) return callback();
      const seen = watcher.feed(chunk);
      const pass = (): void => {
        if (!seen.detach) return callback();
        detached = true;
        callback();
        onDetach();
      };
      if (seen.forward.length === 0) return pass();
      if (inner.write(seen.forward)) pass();
      else inner.once('drain', pass);
    },
    final(callback) {
      if (!detached) inner.end();
      callback();
    },
  });
  stdin.on('error', () => undefined);
  return { ...session, stdin };
}

/** An exec's DetachKeys, refused at exec create with Docker's message (a 500 there). */
export function execDetachKeys(spec: string): number[] {
  try {
    return parseDetachKeys(spec);
  } catch {
    throw new BerthError('Internal', `Invalid escape keys (${spec}) provided`);
  }
}

/**
 * An exec's attach session as Docker serves it: the process has a TTY when the exec was
 * created with one, while the start's Tty (`raw`) only decides whether output is framed.
 * With a TTY and stdin the detach keys (default ctrl-p,ctrl-q) end the connection and
 * leave the process running: its stdin is not closed, unlike a client that hangs up.
 */
export function execSession(session: AttachSession, opts: { terminal: boolean; raw: boolean; detachKeys?: string | undefined; endOutput: () => void }): AttachSession {
  let detached = false;
  const base: AttachSession = { ...session, tty: opts.raw, detached: () => detached };
  const keyed = withDetachKeys(base, execDetachKeys(opts.detachKeys || DEFAULT_DETACH_KEYS), {
    terminal: opts.terminal,
    onDetach: () => {
      detached = true;
      opts.endOutput();
    },
  });
  return {
    ...keyed,
    close: () => {
      if (!detached) session.close();
    },
  };
}
