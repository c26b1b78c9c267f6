import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, ConflictError, DigestMismatchError, diffIdToChainId, layerCompression, type Descriptor, type Digest } from '@berth/image-format';
import type { StorageDeps } from './deps.js';

/** What an overlay layer needs once its parent is committed: a filled upper dir. */
interface Scratch {
  dir: string;
  diffId: Digest;
  /** Bytes of the uncompressed layer tar. */
  size: number;
}

/**
 * Overlay layers are self-contained upper dirs, so every layer of a pull can be applied at
 * once into its own scratch dir (under the root, same filesystem) while the download goes
 * on; each is then moved into a snapshot prepared on its committed parent and committed
 * under its chainID, in order. With a snapshotter that deletes on whiteouts (native) the
 * layers depend on their parents' trees and are unpacked one after another instead.
 */
export class ParallelUnpack {
  private readonly scratches: (Promise<Scratch> | undefined)[] = [];
  private readonly slots: (() => void)[] = [];
  private active = 0;
  private overlay: Promise<boolean> | undefined;

  constructor(
    private readonly s: StorageDeps,
    private readonly scratchRoot: string,
    private readonly maxParallel = 4,
  ) {}

  /** Whether the snapshotter writes overlay whiteouts (known after one prepare). */
  private isOverlay(): Promise<boolean> {
    this.overlay ??= (async () => {
      const key = `probe-${randomBytes(6).toString('hex')}`;
      await this.s.snapshotter.prepare(key, undefined, { labels: { 'berth.layer-store/transient': String(process.pid) } });
      try {
        return (await this.s.snapshotter.applyTarget(key)).whiteouts === 'overlay';
      } finally {
        await this.s.snapshotter.remove(key).catch(() => undefined);
      }
    })();
    return this.overlay;
  }

  /** Starts applying layer `index` (its blob is in the content store); does not wait. */
  begin(index: number, layer: Descriptor, diffId: Digest | undefined): void {
    const p = (async () => {
      if (!(await this.isOverlay())) return undefined;
      await this.acquire();
      try {
        return await this.applyToScratch(layer, diffId);
      } finally {
        this.release();
      }
    })();
    p.catch(() => undefined);
    this.scratches[index] = p as Promise<Scratch>;
  }

  private async applyToScratch(layer: Descriptor, diffId: Digest | undefined): Promise<Scratch> {
    const compression = layerCompression(layer.mediaType);
    if (!compression) throw new BerthError('Unsupported', `unsupported layer media type ${layer.mediaType}`);
    await mkdir(this.scratchRoot, { recursive: true });
    const holder = await mkdtemp(join(this.scratchRoot, 'layer-'));
    const dir = join(holder, 'fs');
    await mkdir(dir, { mode: 0o755 });
    try {
      const res = await this.s.applyLayer(await this.s.content.read(layer.digest), dir, { compression, whiteouts: 'overlay', ...(diffId ? { expectedDiffId: diffId } : {}) });
      if (diffId && res.diffId !== diffId) throw new DigestMismatchError(diffId, res.diffId, `layer ${layer.digest}`);
      return { dir, diffId: res.diffId, size: res.size };
    } catch (err) {
      await rm(holder, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * Commits layer `index` on top of `parent`: moves its scratch dir into a prepared
   * snapshot, or unpacks it in place when it was not applied ahead.
   */
  async finish(index: number, layer: Descriptor, parent: Digest | undefined, diffId: Digest | undefined): Promise<{ chainId: Digest; diffId: Digest; skipped: boolean; size?: number }> {
    const scratch = await this.scratches[index];
    if (!scratch) {
      const res = await this.s.unpack(layer, parent, diffId);
      return { chainId: res.chainId, diffId: res.diffId, skipped: !res.applied };
    }
    const holder = join(scratch.dir, '..');
    try {
      const chainId = diffIdToChainId(parent, scratch.diffId);
      if (await this.exists(chainId)) return { chainId, diffId: scratch.diffId, skipped: true, size: scratch.size };
      const key = `unpack-${randomBytes(6).toString('hex')}-${layer.digest}`;
      await this.s.snapshotter.prepare(key, parent, { labels: { 'berth.layer-store/transient': String(process.pid) } });
      try {
        const target = (await this.s.snapshotter.applyTarget(key)).dir;
        if ((await readdir(target)).length > 0) throw new BerthError('Internal', `snapshot ${key} is not empty`);
        const st = await stat(target);
        await chmod(scratch.dir, (await stat(scratch.dir)).mode & 0o7777);
        await rmdir(target);
        await rename(scratch.dir, target);
        await chown(target, st.uid, st.gid).catch(() => undefined);
        try {
          await this.s.snapshotter.commit(chainId, key, { labels: { 'berth.layer-store/diff-id': scratch.diffId } });
        } catch (err) {
          if (!(err instanceof ConflictError)) throw err;
          await this.s.snapshotter.remove(key);
          return { chainId, diffId: scratch.diffId, skipped: true, size: scratch.size };
        }
        return { chainId, diffId: scratch.diffId, skipped: false, size: scratch.size };
      } catch (err) {
        await this.s.snapshotter.remove(key).catch(() => undefined);
        throw err;
      }
    } finally {
      await rm(holder, { recursive: true, force: true });
    }
  }

  /** Removes every scratch dir still held (after a failed pull). */
  async discard(): Promise<void> {
    for (const p of this.scratches) {
      const s = await p?.catch(() => undefined);
      if (s) await rm(join(s.dir, '..'), { recursive: true, force: true });
    }
  }

  private async exists(chainId: string): Promise<boolean> {
    try {
      return (await this.s.snapshotter.stat(chainId)).kind === 'committed';
    } catch {
      return false;
    }
  }

  private acquire(): Promise<void> {
    if (this.active < this.maxParallel) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((r) => this.slots.push(() => (this.active++, r())));
  }

  private release(): void {
    this.active--;
    this.slots.shift()?.();
  }
}
