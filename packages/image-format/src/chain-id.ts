import { createHash } from 'node:crypto';
import type { Digest } from './digest.js';
import { parseDigest } from './digest.js';

/** ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)). */
export function diffIdToChainId(parent: Digest | undefined, diffId: Digest): Digest {
  parseDigest(diffId);
  if (parent === undefined) return diffId;
  return `sha256:${createHash('sha256').update(`${parent} ${diffId}`).digest('hex')}`;
}

/** The ChainID of every prefix of the layer stack, bottom first. */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  let parent: Digest | undefined;
  for (const d of diffIds) {
    parent = diffIdToChainId(parent, d);
    out.push(parent);
  }
  return out;
}
