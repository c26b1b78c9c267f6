import { randomBytes } from 'node:crypto';
import {
  ConflictError,
  diffIdToChainId,
  InvalidArgumentError,
  layerCompression,
  NotFoundError,
  type Descriptor,
  type Digest,
} from '@berth/image-format';
import { applyToTarget, type ApplyOptions } from '../archive/apply.js';
import type { FileContentStore } from '../content/file-store.js';
import { TRANSIENT_LABEL } from '../snapshot/base.js';
import type { Snapshotter } from '../snapshot/snapshotter.js';

/** Label of a committed layer snapshot: its entries' total size (Docker's layer size), in bytes. */
export const CONTENT_SIZE_LABEL = 'berth.layer-store/content-size';

export interface UnpackOptions {
  /** The layer's diffID from the image config: lets an unpacked layer be found without
   * reading it, and is verified while applying. */
  diffId?: Digest;
  privileged?: boolean;
  limits?: ApplyOptions['limits'];
}

export interface UnpackResult {
  chainId: Digest;
  diffId: Digest;
  /** False when the chainID was already unpacked and nothing was done. */
  applied: boolean;
}

/**
 * Applies a stored layer blob on top of `parentChainId` and commits the snapshot under
 * its chainID. Idempotent: an already committed chainID is skipped. The layer goes into
 * a transient active snapshot that is removed on any failure (and by `recover()` after
 * a crash), so no half-applied snapshot is ever committed.
 */
export async function unpackLayer(
  store: FileContentStore,
  snapshotter: Snapshotter,
  layer: Descriptor,
  parentChainId: Digest | undefined,
  opts: UnpackOptions = {},
): Promise<UnpackResult> {
  const compression = layerCompression(layer.mediaType);
  if (!compression) throw new InvalidArgumentError(`${layer.mediaType} is not a layer media type`);
  const known = opts.diffId ?? knownDiffId(store, layer.digest, parentChainId);
  if (known) {
    const chainId = diffIdToChainId(parentChainId, known);
    if (await exists(snapshotter, chainId)) {
      record(store, chainId, known, parentChainId, layer);
      return { chainId, diffId: known, applied: false };
    }
  }
  const key = `unpack-${randomBytes(6).toString('hex')}-${layer.digest}`;
  await snapshotter.prepare(key, parentChainId, { labels: { [TRANSIENT_LABEL]: String(process.pid) } });
  try {
    const target = await snapshotter.applyTarget(key);
    const input = await store.read(layer.digest);
    const result = await applyToTarget(input, target, {
      compression,
      ...(opts.diffId ? { expectedDiffId: opts.diffId } : {}),
      ...(opts.privileged !== undefined ? { privileged: opts.privileged } : {}),
      ...(opts.limits ? { limits: opts.limits } : {}),
    });
    const chainId = diffIdToChainId(parentChainId, result.diffId);
    try {
      await snapshotter.commit(chainId, key, { labels: { 'berth.layer-store/diff-id': result.diffId, [CONTENT_SIZE_LABEL]: String(result.contentSize) } });
    } catch (err) {
      // Someone else unpacked the same chain meanwhile: theirs is as good as ours.
      if (!(err instanceof ConflictError)) throw err;
      await snapshotter.remove(key);
    }
    record(store, chainId, result.diffId, parentChainId, layer);
    return { chainId, diffId: result.diffId, applied: true };
  } catch (err) {
    await snapshotter.remove(key).catch((e) => {
      if (!(e instanceof NotFoundError)) throw e;
    });
    throw err;
  }
}

export async function exists(snapshotter: Snapshotter, key: string): Promise<boolean> {
  try {
    return (await snapshotter.stat(key)).kind === 'committed';
  } catch (err) {
    if (err instanceof NotFoundError) return false;
    throw err;
  }
}

export function knownDiffId(store: FileContentStore, blob: Digest, parent: Digest | undefined): Digest | undefined {
  const row = store.db
    .prepare('SELECT diff_id FROM ls_layers WHERE blob_digest = ? AND parent_chain_id IS ?')
    .get(blob, parent ?? null) as { diff_id: Digest } | undefined;
  return row?.diff_id;
}

export function record(store: FileContentStore, chainId: Digest, diffId: Digest, parent: Digest | undefined, layer: Descriptor): void {
  store.db
    .prepare(
      `INSERT INTO ls_layers (chain_id, diff_id, parent_chain_id, blob_digest, size, created_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (chain_id) DO UPDATE SET blob_digest = excluded.blob_digest`,
    )
    .run(chainId, diffId, parent ?? null, layer.digest, layer.size, Date.now());
}

/** What layer-store knows about an unpacked layer, by chainID. */
export interface LayerRecord {
  chainId: Digest;
  diffId: Digest;
  parentChainId?: Digest;
  blobDigest?: Digest;
  size: number;
}

export function layerRecord(store: FileContentStore, chainId: Digest): LayerRecord | undefined {
  const r = store.db.prepare('SELECT * FROM ls_layers WHERE chain_id = ?').get(chainId) as
    | { chain_id: Digest; diff_id: Digest; parent_chain_id: Digest | null; blob_digest: Digest | null; size: number }
    | undefined;
  if (!r) return undefined;
  return {
    chainId: r.chain_id,
    diffId: r.diff_id,
    ...(r.parent_chain_id ? { parentChainId: r.parent_chain_id } : {}),
    ...(r.blob_digest ? { blobDigest: r.blob_digest } : {}),
    size: r.size,
  };
}
