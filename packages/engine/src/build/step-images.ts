import { canonicalJson, chainIds, digestOf, type Digest, type ImageConfig } from '@berth/image-format';
import type { LayerRecord } from '../images/table.js';
import type { ImageService } from '../services.js';
import type { BuildImageStore, StoredImage } from './image-store.js';

/**
 * The images one build's steps make. A step's image is only stored (config blob, image
 * record, layer snapshots) when something needs it as an image: a RUN container starts
 * from it, it ends a stage, or the build failed after it. The others (most of a cached
 * rebuild: each hit would otherwise write its image back, to be removed again at the end)
 * live here, by ID, until the build ends.
 */
export class StepImages {
  private readonly pending = new Map<string, { bytes: Buffer; config: ImageConfig; layers: LayerRecord[]; chainId: string | undefined }>();
  /** Images this build stored: removed at the end unless kept. */
  readonly stored = new Set<string>();

  constructor(private readonly store: BuildImageStore) {}

  /** The image, stored or pending. */
  get(id: string): StoredImage | undefined {
    const p = this.pending.get(id);
    if (!p) return this.store.get(id);
    return { id, config: p.config, layers: p.layers, chainId: p.chainId };
  }

  /** A step's image from its config; its ID. Nothing is written until `materialize`. */
  add(config: ImageConfig, layers: LayerRecord[]): string {
    return this.addBytes(Buffer.from(canonicalJson(config)), layers);
  }

  /** As `add`, from the exact config bytes (a cache hit: the same ID as when it was made). */
  addBytes(bytes: Buffer, layers: LayerRecord[]): string {
    const id = digestOf(bytes);
    if (!this.pending.has(id) && !this.store.get(id)) {
      const chainId = chainIds(layers.map((l) => l.diffId as Digest)).at(-1);
      this.pending.set(id, { bytes, config: JSON.parse(bytes.toString('utf8')) as ImageConfig, layers, chainId });
    }
    return id;
  }

  /**
   * Whether a cached step made on `parentId` can be brought back: the blobs of its layers
   * that the parent does not already have are still stored (the parent's are, or it would
   * not be there).
   */
  async intact(parentId: string, layers: LayerRecord[]): Promise<boolean> {
    const have = new Set((parentId ? this.get(parentId)?.layers ?? [] : []).map((l) => l.digest));
    return this.store.intact(layers.filter((l) => !have.has(l.digest)));
  }

  /** The config bytes of an image, stored or pending (what the cache keeps). */
  configBytes(id: string): string | undefined {
    return this.pending.get(id)?.bytes.toString('utf8') ?? this.store.configBytes(id);
  }

  /** Stores a pending image (a no-op for a stored one). */
  async materialize(id: string): Promise<void> {
    const p = this.pending.get(id);
    if (!p) return;
    const { created } = await this.store.writeBytes(p.bytes, p.layers);
    this.pending.delete(id);
    if (created) this.stored.add(id);
  }

  /**
   * The directories of the image's layers, topmost first, for reading its tree: a pending
   * image's layers are unpacked first (a no-op for a snapshot that exists).
   */
  async layerDirs(id: string): Promise<string[]> {
    const p = this.pending.get(id);
    const chainId = p ? await this.store.unpackChain(p.layers) : this.store.get(id)?.chainId;
    return chainId ? this.store.layerDirs(chainId) : [];
  }

  /**
   * At the end of a build, failed or not: the `kept` images (each stage's last, which holds
   * all their layers so the cache can write them back; after a failure the last good step,
   * whose ID was shown, as Docker leaves it) are stored, and the other step images this
   * build stored are removed unless tagged or in use: Berth has no parent links to hide
   * intermediate images from `docker images` as Docker does.
   */
  async finish(images: ImageService, kept: string[]): Promise<void> {
    for (const id of kept) await this.materialize(id).catch(() => undefined);
    const keep = new Set(kept);
    for (const id of this.stored) {
      if (keep.has(id)) continue;
      try {
        const img = await images.inspect(id);
        if (img.RepoTags.length > 0) continue;
        await images.remove(id);
      } catch {
        // in use by a container, or already gone: left as it is
      }
    }
  }
}
