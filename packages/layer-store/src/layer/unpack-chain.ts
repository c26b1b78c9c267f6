import { randomBytes } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import {
  ConflictError,
  DigestMismatchError,
  diffIdToChainId,
  InvalidArgumentError,
  layerCompression,
  NotFoundError,
  type Descriptor,
  type Digest,
} from '@berth/image-format';
import { applyToTarget } from '../archive/apply.js';
import type { FileContentStore } from '../content/file-store.js';
import type { Snapshotter } from '../snapshot/snapshotter.js';
import { CONTENT_SIZE_LABEL, exists, record, unpackLayer, type UnpackOptions, type UnpackResult } from './unpack.js';

export interface ChainUnpackOptions extends Omit<UnpackOptions, 'diffId'> {
  /** Layers applied at once (default 4). */
  concurrency?: number;
  /** Called as each layer is committed (in chain order). */
  onLayerDone?: (index: number, result: ChainLayerResult) => void;
}

export interface ChainLayerResult extends UnpackResult {
  /** Bytes of the uncompressed layer tar, when it was applied here. */
  size?: number;
}

interface Detached {
  key: string;
  diffId: Digest;
  size: number;
  contentSize: number;
}

interface Slot {
  /** The layer applied ahead into a detached snapshot; undefined on a snapshotter that cannot. */
  applied: Promise<Detached | undefined>;
  /** Applied from a caller's stream (not the content store): a failure is retried from the store. */
  streamed: boolean;
}

/**
 * Unpacks an image's layers into committed snapshots keyed by chainID, applying several
 * at once. On a snapshotter with detached snapshots (overlay: a layer's directory does
 * not depend on the tree below it, whiteouts are stored as overlay whiteouts) each layer
 * is applied into its own parentless transient snapshot as soon as it is begun, then
 * `commit` gives each its parent and commits it in chain order, recording its ls_layers
 * row. Elsewhere (native) `commit` unpacks the layers one after another.
 *
 * Safety: a layer is committed only by `commit`, only after its diffID checked out
 * (against the image config's when given); any failure removes every snapshot not yet
 * committed; a crash leaves transient snapshots that the snapshotter's `recover()` drops.
 * Layers committed before a failure are whole and stay (a retry skips them).
 */
export class LayerChainUnpacker {
  /** Layers applied ahead, by blob: a detached layer does not depend on where it sits in the chain. */
  private readonly slots = new Map<Digest, Slot>();
  private readonly waiting: (() => void)[] = [];
  private active = 0;
  private readonly concurrency: number;

  constructor(
    private readonly store: FileContentStore,
    private readonly snapshotter: Snapshotter,
    private readonly opts: ChainUnpackOptions = {},
  ) {
    this.concurrency = Math.max(1, opts.concurrency ?? 4);
  }

  private get detached(): boolean {
    return !!this.snapshotter.supportsDetached && !!this.snapshotter.prepareDetached && !!this.snapshotter.commitDetached;
  }

  /** Starts applying `layer` from the content store (its blob must be there); does not wait. */
  begin(layer: Descriptor, diffId?: Digest): void {
    if (this.slots.has(layer.digest) || !this.detached) return;
    const applied = (async () => {
      await this.acquire();
      try {
        return await this.applyDetached(layer, await this.store.read(layer.digest), diffId);
      } finally {
        this.release();
      }
    })();
    applied.catch(() => undefined);
    this.slots.set(layer.digest, { applied, streamed: false });
  }

  /**
   * Starts applying `layer` from its blob's bytes as they arrive (a download being
   * written to the content store at the same time): returns the stream to write exactly
   * the blob's bytes into, or undefined when no apply slot is free right now (or the
   * snapshotter cannot apply ahead) — then call `begin` once the blob is stored. The
   * caller destroys the stream if the download fails; the compressed digest is the
   * caller's to verify before `commit`. An apply from a stream that fails is redone from
   * the content store at `commit`.
   */
  beginStream(layer: Descriptor, diffId?: Digest): PassThrough | undefined {
    if (this.slots.has(layer.digest) || !this.detached || this.active >= this.concurrency) return undefined;
    this.active++;
    const input = new PassThrough({ highWaterMark: 1 << 20 });
    // The caller may destroy it with an error before the apply's pipeline is attached;
    // the apply sees that as its failure.
    input.on('error', () => undefined);
    const applied = this.applyDetached(layer, input, diffId).finally(() => this.release());
    applied.catch(() => undefined);
    this.slots.set(layer.digest, { applied, streamed: true });
    return input;
  }

  private async applyDetached(layer: Descriptor, input: Readable, diffId: Digest | undefined): Promise<Detached> {
    const compression = layerCompression(layer.mediaType);
    if (!compression) {
      input.destroy();
      throw new InvalidArgumentError(`${layer.mediaType} is not a layer media type`);
    }
    const key = `unpack-${randomBytes(6).toString('hex')}-${layer.digest}`;
    let target;
    try {
      target = await this.snapshotter.prepareDetached!(key);
    } catch (err) {
      input.destroy();
      throw err;
    }
    try {
      const res = await applyToTarget(input, target, {
        compression,
        ...(diffId ? { expectedDiffId: diffId } : {}),
        ...(this.opts.privileged !== undefined ? { privileged: this.opts.privileged } : {}),
        ...(this.opts.limits ? { limits: this.opts.limits } : {}),
      });
      return { key, diffId: res.diffId, size: res.size, contentSize: res.contentSize };
    } catch (err) {
      await this.removeQuietly(key);
      throw err;
    }
  }

  /**
   * Commits `layers` in chain order (each over the previous one) and returns their
   * chainIDs. `diffIds` (the image config's) are checked against what was applied.
   * Layers not begun are unpacked here. On failure every uncommitted snapshot is removed.
   */
  async commit(layers: readonly Descriptor[], diffIds?: readonly Digest[]): Promise<ChainLayerResult[]> {
    if (diffIds && diffIds.length !== layers.length) throw new InvalidArgumentError(`${layers.length} layers but ${diffIds.length} diffIDs`);
    const out: ChainLayerResult[] = [];
    let parent: Digest | undefined;
    try {
      for (const [index, layer] of layers.entries()) {
        const res = await this.commitOne(layer, parent, diffIds?.[index]);
        out.push(res);
        parent = res.chainId;
        this.opts.onLayerDone?.(index, res);
      }
    } catch (err) {
      await this.discard();
      throw err;
    }
    return out;
  }

  private async commitOne(layer: Descriptor, parent: Digest | undefined, want: Digest | undefined): Promise<ChainLayerResult> {
    const slot = this.slots.get(layer.digest);
    let done: Detached | undefined;
    if (slot) {
      try {
        done = await slot.applied;
      } catch (err) {
        // A stream can fail for the download's sake; the stored blob is the truth.
        if (!slot.streamed) throw err;
      } finally {
        // A blob twice in one chain: the second one is unpacked over its own parent.
        this.slots.delete(layer.digest);
      }
    }
    if (!done) {
      const res = await unpackLayer(this.store, this.snapshotter, layer, parent, {
        ...(want ? { diffId: want } : {}),
        ...(this.opts.privileged !== undefined ? { privileged: this.opts.privileged } : {}),
        ...(this.opts.limits ? { limits: this.opts.limits } : {}),
      });
      return res;
    }
    try {
      if (want && want !== done.diffId) throw new DigestMismatchError(want, done.diffId, `layer ${layer.digest} diffID`);
      const chainId = diffIdToChainId(parent, done.diffId);
      let applied = true;
      if (await exists(this.snapshotter, chainId)) applied = false;
      else {
        try {
          await this.snapshotter.commitDetached!(chainId, done.key, parent, {
            labels: { 'berth.layer-store/diff-id': done.diffId, [CONTENT_SIZE_LABEL]: String(done.contentSize) },
          });
        } catch (err) {
          // Someone else committed the same chain meanwhile: theirs is as good as ours.
          if (!(err instanceof ConflictError)) throw err;
          applied = false;
        }
      }
      if (!applied) await this.removeQuietly(done.key);
      record(this.store, chainId, done.diffId, parent, layer);
      return { chainId, diffId: done.diffId, applied, size: done.size };
    } catch (err) {
      await this.removeQuietly(done.key);
      throw err;
    }
  }

  /** Removes every layer applied ahead and not committed (after a failed pull). */
  async discard(): Promise<void> {
    const slots = [...this.slots.values()];
    this.slots.clear();
    for (const s of slots) {
      const d = await s.applied.catch(() => undefined);
      if (d) await this.removeQuietly(d.key);
    }
  }

  private async removeQuietly(key: string): Promise<void> {
    await this.snapshotter.remove(key).catch((e) => {
      if (!(e instanceof NotFoundError)) throw e;
    });
  }

  private acquire(): Promise<void> {
    if (this.active < this.concurrency) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((r) => this.waiting.push(() => (this.active++, r())));
  }

  private release(): void {
    this.active--;
    this.waiting.shift()?.();
  }
}

/**
 * Unpacks `layers` (blobs in the content store) as one chain, several at once where the
 * snapshotter allows (see {@link LayerChainUnpacker}); results in chain order.
 */
export async function unpackLayersConcurrently(
  store: FileContentStore,
  snapshotter: Snapshotter,
  layers: readonly Descriptor[],
  opts: ChainUnpackOptions & { diffIds?: readonly Digest[] } = {},
): Promise<ChainLayerResult[]> {
  const u = new LayerChainUnpacker(store, snapshotter, opts);
  layers.forEach((l, i) => u.begin(l, opts.diffIds?.[i]));
  try {
    return await u.commit(layers, opts.diffIds);
  } finally {
    await u.discard();
  }
}
