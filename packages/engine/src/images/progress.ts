import type { ProgressMessage } from '../docker-types.js';

function size(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 3 : v < 100 ? 2 : 1).replace(/\.?0+$/, '')}${units[i]}`;
}

/** Docker's progress bar: `[=====>      ]  1.2MB/3.4MB`. */
export function progressBar(current: number, total: number): string {
  if (total <= 0) return size(current);
  const width = 50;
  const filled = Math.min(width, Math.floor((current / total) * width));
  const bar = '='.repeat(Math.max(0, filled - 1)) + (filled > 0 ? (filled === width ? '=' : '>') : '') + ' '.repeat(width - filled);
  return `[${bar}] ${size(current).padStart(8)}/${size(total)}`;
}

export function layerMessage(status: string, id: string, current?: number, total?: number): ProgressMessage {
  if (current === undefined) return { status, progressDetail: {}, id };
  return { status, progressDetail: { current, ...(total ? { total } : {}) }, progress: progressBar(current, total ?? 0), id };
}
