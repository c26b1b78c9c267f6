import { Writable } from 'node:stream';
import { DetachKeyWatcher } from '@berth/engine-api';
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
