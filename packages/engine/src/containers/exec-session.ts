import { BerthError } from '@berth/image-format';
import { DEFAULT_DETACH_KEYS, parseDetachKeys } from '@berth/engine-api';
import type { AttachSession } from '../services.js';
import { withDetachKeys } from './detach-keys.js';

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
