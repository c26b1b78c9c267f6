import type { GuestOs, SignalOptions } from '@berth/hcs';

/** SIGTERM → CtrlShutdown, SIGINT → CtrlC (hcsshim internal/signals); a Linux guest takes numbers. */
export function signalOptions(n: number, os: GuestOs): SignalOptions | undefined {
  if (os === 'linux') return { Signal: n };
  if (n === 15) return { Signal: 'CtrlShutdown' };
  if (n === 2) return { Signal: 'CtrlC' };
  if (n === 3) return { Signal: 'CtrlBreak' };
  return undefined;
}
