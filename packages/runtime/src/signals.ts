import { constants } from 'node:os';
import { InvalidArgumentError } from '@berth/image-format';

const SIGNALS = constants.signals as Record<string, number>;

/** `SIGTERM`, `TERM`, `term` or `15` -> 15. Throws InvalidArgumentError otherwise. */
export function signalNumber(signal: string | number): number {
  if (typeof signal === 'number') {
    if (Number.isInteger(signal) && signal > 0 && signal < 65) return signal;
    throw new InvalidArgumentError(`invalid signal ${signal}`);
  }
  if (/^\d+$/.test(signal)) return signalNumber(Number(signal));
  const upper = signal.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  const n = SIGNALS[name];
  if (n === undefined) throw new InvalidArgumentError(`invalid signal ${signal}`);
  return n;
}

const ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/** Whether `id` is acceptable as a container id (also safe as a file name). */
export function isValidContainerId(id: string): boolean {
  return ID_RE.test(id);
}
