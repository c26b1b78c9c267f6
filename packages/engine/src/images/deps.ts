import type { Readable, Writable } from 'node:stream';
import type { Descriptor, Digest } from '@berth/image-format';
import type { SnapshotterLike } from '../adapters/snapshots.js';

/** The content store abilities the engine uses (layer-store's FileContentStore has them). */
export interface ContentLike {
  has(digest: Digest): Promise<boolean>;
  info(digest: Digest): Promise<{ digest: Digest; size: number }>;
  read(digest: Digest, opts?: { verify?: boolean; offset?: number }): Promise<Readable>;
  delete(digest: Digest): Promise<void>;
  ingest(ref: string, expected: { digest: Digest; size: number }, data: Readable | Uint8Array, labels?: Record<string, string>): Promise<void>;
  writer(ref: string, opts?: { expected?: Digest; total?: number }): Promise<{
    append(data: Readable | Uint8Array): Promise<void>;
    commit(size?: number, expected?: Digest): Promise<Digest>;
    abort(): Promise<void>;
    readonly written: number;
  }>;
  ingestedBytes(ref: string): Promise<number>;
  write(ref: string, expected: { digest: Digest; size: number }, data: Readable, opts?: { offset?: number }): Promise<void>;
}

/** layer-store's LayerChainUnpacker: an image's layers applied several at once, committed in chain order. */
export interface ChainUnpackerLike {
  /** Starts applying `layer` from the content store. */
  begin(layer: Descriptor, diffId?: Digest): void;
  /** A stream to write the blob's bytes into as they download, or undefined (no free slot). */
  beginStream(layer: Descriptor, diffId?: Digest): Writable | undefined;
  /** Commits the chain in order (applying what was not begun); removes what is uncommitted on failure. */
  commit(layers: readonly Descriptor[], diffIds?: readonly Digest[]): Promise<{ chainId: Digest; diffId: Digest; applied: boolean; size?: number }[]>;
  /** Removes layers applied ahead and not committed. */
  discard(): Promise<void>;
}

export interface StorageDeps {
  content: ContentLike;
  snapshotter: SnapshotterLike;
  /** layer-store's unpackLayer: applies a stored blob over `parent`, committed under its chainID (idempotent). */
  unpack(layer: Descriptor, parent: Digest | undefined, diffId?: Digest): Promise<{ chainId: Digest; diffId: Digest; applied: boolean }>;
  /** A new layer-store LayerChainUnpacker over the engine's store and snapshotter. */
  chainUnpacker(opts: { onLayerDone?: (index: number, res: { chainId: Digest; diffId: Digest; applied: boolean; size?: number }) => void }): ChainUnpackerLike;
  /** layer-store's applyLayer: a layer stream into a directory (overlay whiteouts or deletions). */
  applyLayer(input: Readable, root: string, opts: { compression: 'none' | 'gzip' | 'zstd'; whiteouts: 'overlay' | 'delete'; expectedDiffId?: Digest }): Promise<{ diffId: Digest; size: number }>;
  /** layer-store's createDiff: the snapshot's changes as a gzip layer blob in the content store. */
  diff(key: string): Promise<{ descriptor: Descriptor; diffId: Digest }>;
}
