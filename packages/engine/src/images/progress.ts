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

/** Docker's progress bar as its daemon renders it (200 columns): `[=====>      ]  1.2MB/3.4MB`. */
export function progressBar(current: number, total: number): string {
  if (total <= 0) return size(current).padStart(8);
  const done = Math.min(50, Math.floor(Math.floor((current / total) * 100) / 2));
  const numbers = current > total ? size(current).padStart(8) : `${size(current).padStart(8)}/${size(total)}`;
  return `[${'='.repeat(done)}>${' '.repeat(50 - done)}] ${numbers}`;
}

export function layerMessage(status: string, id: string, current?: number, total?: number): ProgressMessage {
  if (current === undefined) return { status, progressDetail: {}, id };
  return { status, progressDetail: { current, ...(total ? { total } : {}) }, progress: progressBar(current, total ?? 0), id };
}
