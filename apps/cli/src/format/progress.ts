// docker's jsonmessage.DisplayJSONMessagesStream: one line per layer id, redrawn in place
// with ANSI cursor moves on a terminal; on anything else progress bars are dropped and
// each status is a plain line.
import type { JsonMessage } from '@berth/engine-api';
import { humanSize } from './units.js';

export interface ProgressOutput {
  write(text: string): unknown;
}

interface DisplayOptions {
  isTerminal: boolean;
  /** Terminal width in columns (bars are drawn only when wider than 110). */
  columns?: number;
  /** Called for `aux` messages (push digests, load results). */
  onAux?: (aux: Record<string, unknown>) => void;
  now?: () => number;
}

/** The bar and counts of one progress message, as docker's JSONProgress.String() draws them. */
export function progressString(detail: NonNullable<JsonMessage['progressDetail']> & { start?: number }, width: number, now = Date.now()): string {
  const current = detail.current ?? 0;
  const total = detail.total ?? 0;
  const units = detail.units ?? '';
  if (current <= 0 && total <= 0) return '';
  if (total <= 0) return units === '' ? humanSize(current).padStart(8) : `${current} ${units}`;
  let percentage = Math.trunc(Math.trunc((current / total) * 100) / 2);
  if (percentage > 50) percentage = 50;
  let bar = '';
  if (width > 110) bar = `[${'='.repeat(percentage)}>${' '.repeat(Math.max(0, 50 - percentage))}] `;
  let numbers: string;
  if (units === '') {
    numbers = current > total ? humanSize(current).padStart(8) : `${humanSize(current).padStart(8)}/${humanSize(total)}`;
  } else {
    numbers = current > total ? `${current} ${units}` : `${current}/${total} ${units}`;
  }
  let left = '';
  if (current > 0 && detail.start && detail.start > 0 && percentage < 50 && width > 50) {
    const fromStart = now - detail.start * 1000;
    const remaining = Math.trunc(((total - current) * (fromStart / current)) / 1000);
    left = ` ${goDuration(remaining)}`;
  }
  return bar + numbers + left;
}

function goDuration(seconds: number): string {
  if (seconds <= 0) return '0s';
  const h = Math.trunc(seconds / 3600);
  const m = Math.trunc((seconds % 3600) / 60);
  const s = seconds % 60;
  return `${h > 0 ? `${h}h` : ''}${h > 0 || m > 0 ? `${m}m` : ''}${s}s`;
}

/** Draws a stream of progress messages; resolves when it ends, rejects on an error message. */
export async function displayJsonMessages(messages: AsyncIterable<JsonMessage>, out: ProgressOutput, options: DisplayOptions): Promise<void> {
  const width = options.isTerminal ? (options.columns ?? 80) : 200;
  let ids = new Map<string, number>();
  for await (const jm of messages) {
    if (jm.aux) {
      options.onAux?.(jm.aux);
      continue;
    }
    const hasProgress = jm.progressDetail !== undefined;
    let diff = 0;
    if (jm.id && (hasProgress || jm.progress)) {
      let line = ids.get(jm.id);
      if (line === undefined) {
        line = ids.size;
        ids.set(jm.id, line);
        if (options.isTerminal) out.write('\n');
      }
      diff = ids.size - line;
      if (options.isTerminal) out.write(`\x1b[${diff}A`);
    } else {
      ids = new Map();
    }
    display(jm, out, options.isTerminal, width, options.now?.() ?? Date.now());
    if (jm.id && options.isTerminal) out.write(`\x1b[${diff}B`);
  }
}

function display(jm: JsonMessage, out: ProgressOutput, isTerminal: boolean, width: number, now: number): void {
  let endl = '';
  const bar = jm.progressDetail ? progressString(jm.progressDetail, width, now) : '';
  if (isTerminal && !jm.stream && jm.progressDetail) {
    out.write('\x1b[2K\r');
    endl = '\r';
  } else if (jm.progressDetail && bar !== '') {
    return;
  }
  let s = '';
  if (jm.id) s += `${jm.id}: `;
  const status = jm.status ?? '';
  if (jm.progressDetail && isTerminal) s += `${status} ${bar}${endl}`;
  else if (jm.progress) s += `${status} ${jm.progress}${endl}`;
  else if (jm.stream) s += `${jm.stream}${endl}`;
  else s += `${status}${endl}\n`;
  out.write(s);
}
