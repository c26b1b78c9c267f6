import type { Descriptor, Digest } from '@berth/image-format';
import type { StorageDeps } from './deps.js';

/** Applies layers into committed snapshots keyed by chainID (through layer-store's unpackLayer). */
export class Unpacker {
  constructor(private readonly s: StorageDeps) {}

  async apply(layer: Descriptor, parent: string | undefined, diffId: Digest | undefined): Promise<{ chainId: Digest; diffId: Digest; skipped: boolean }> {
    const res = await this.s.unpack(layer, parent as Digest | undefined, diffId);
    return { chainId: res.chainId, diffId: res.diffId, skipped: !res.applied };
  }
}
