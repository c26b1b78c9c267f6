// Docker's detach keys: a key sequence typed into an attached TTY (default Ctrl-P Ctrl-Q)
// leaves the container running and ends the attach. Both sides watch for it, as Docker's
// do: the berth CLI (so it works with any daemon) and berthd (for any API client).
import { InvalidArgumentError } from '@berth/image-format';

export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

/** `ctrl-p,ctrl-q` -> [16, 17]: `ctrl-<a-z, @, [, \, ], ^, _>` or a single character, comma-separated. */
export function parseDetachKeys(spec: string): number[] {
  const keys: number[] = [];
  for (const part of spec.split(',')) {
    const key = part.trim();
    const ctrl = /^ctrl-(.)$/i.exec(key);
    if (ctrl) {
      const c = (ctrl[1] as string).toLowerCase();
      if (c >= 'a' && c <= 'z') keys.push(c.charCodeAt(0) - 96);
      else if ('@[\\]^_'.includes(c)) keys.push(c.charCodeAt(0) - 64);
      else throw new InvalidArgumentError(`Unknown character: '${key}'`);
    } else if (key.length === 1) {
      keys.push(key.charCodeAt(0));
    } else {
      throw new InvalidArgumentError(`Unknown character: '${key}'`);
    }
  }
  return keys;
}

/**
 * Passes typed bytes through, holding back a prefix of the sequence until it either
 * completes (detach: the held bytes are dropped) or breaks (they are sent after all).
 */
export class DetachKeyWatcher {
  private matched = 0;

  constructor(private readonly keys: readonly number[]) {}

  /** What to forward of `chunk`; `detach` once the whole sequence was typed. */
  feed(chunk: Buffer): { forward: Buffer; detach: boolean } {
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === this.keys[this.matched]) {
        this.matched++;
        if (this.matched === this.keys.length) return { forward: Buffer.from(out), detach: true };
        continue;
      }
      // a broken prefix is typed text after all; the byte may start a new attempt
      out.push(...this.keys.slice(0, this.matched));
      this.matched = 0;
      if (byte === this.keys[0]) this.matched = 1;
      else out.push(byte);
    }
    return { forward: Buffer.from(out), detach: false };
  }
}
