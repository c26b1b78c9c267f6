import { createHash } from 'node:crypto';

/** Deterministic bytes [off, off+n) of an endless pattern, so parent and child agree. */
export function patternChunk(off: number, n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i += 32) {
    const block = Math.floor((off + i) / 32);
    createHash('sha256').update(String(block)).digest().copy(out, i, 0, Math.min(32, n - i));
  }
  return out;
}
