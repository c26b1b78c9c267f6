/** The newest Docker Engine API version Berth speaks (Docker 28.2). */
export const API_VERSION = '1.50';
/** The oldest API version Berth accepts, as Docker 28 does. */
export const MIN_API_VERSION = '1.24';

/**
 * Compares two "major.minor" API versions numerically (so 1.9 < 1.10).
 * Returns a negative number, zero or a positive number, like a sort comparator.
 */
export function compareApiVersions(a: string, b: string): number {
  const pa = a.split('.').map((p) => Number.parseInt(p, 10) || 0);
  const pb = b.split('.').map((p) => Number.parseInt(p, 10) || 0);
  const n = Math.max(pa.length, pb.length);
  for (let i = 0; i < n; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
