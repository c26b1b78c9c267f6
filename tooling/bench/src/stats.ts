/** Median of a non-empty sample (mean of the middle two for even counts). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function mean(xs: readonly number[]): number {
  return xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Value at quantile q (0..1), nearest rank. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

export const fmtMs = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(x < 10 ? 2 : 1)} ms` : 'n/a');
export const fmtMiB = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MiB`;
export const fmtRatio = (a: number, b: number): string => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : 'n/a');

/** Wall time of `fn` in milliseconds. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** `name: median X ms (min .. max) over N` — the line shape the summary picks up. */
export function medianLine(name: string, xs: readonly number[]): string {
  if (xs.length === 0) return `${name}: no samples`;
  return `${name}: median ${fmtMs(median(xs))} (min ${fmtMs(Math.min(...xs))}, max ${fmtMs(Math.max(...xs))}) over ${xs.length}`;
}
