import { mkdir, rmdir } from 'node:fs/promises';
import { mountAll, unmount, type Mount } from '@berth/layer-store';
import { canonicalJson, chainIds, digestOf, type Descriptor, type Digest, type ImageConfig } from '@berth/image-format';
import type { ContentStore } from '@berth/layer-store';
import type { StorageDeps } from '../images/deps.js';
import type { ImageTable, LayerRecord } from '../images/table.js';
import type { Db } from '../state/db.js';

/** What the builder needs from the engine's image storage. */
export interface BuildStorageDeps {
  table: ImageTable;
  db: Db;
  content: ContentStore;
  unpack: StorageDeps['unpack'];
  /** Mounts of a committed snapshot (read-only: lower directories only). */
  snapshotMounts(chainId: string): Promise<Mount[]>;
  /** A stopped container's writable layer as a new layer blob. */
  /** `exclude`: image-relative paths left out (a RUN's mount points); `clampMtime`: SOURCE_DATE_EPOCH. */
  diffContainer(containerId: string, opts?: DiffContainerOptions): Promise<{ descriptor: Descriptor; diffId: Digest }>;
}

export interface DiffContainerOptions {
  exclude?: string[];
  clampMtime?: number;
}

export interface StoredImage {
  id: string;
  config: ImageConfig;
  layers: LayerRecord[];
  chainId: string | undefined;
}

/**
 * Build steps' images: each step's result is an (untagged) image, as with Docker's classic
 * builder. Layers are applied to snapshots when the image is written so a RUN container
 * can start from it at once.
 */
export class BuildImageStore {
  constructor(private readonly deps: BuildStorageDeps) {}

  get content(): ContentStore {
    return this.deps.content;
  }

  get(id: string): StoredImage | undefined {
    const rec = this.deps.table.get(id);
    if (!rec) return undefined;
    return { id: rec.id, config: JSON.parse(rec.configBytes) as ImageConfig, layers: rec.layers, chainId: rec.chainId ?? undefined };
  }

  /** Stores the config over `layers` (blobs already in the content store); `created` is false when it was there. */
  async write(config: ImageConfig, layers: LayerRecord[]): Promise<{ id: string; created: boolean }> {
    return this.writeBytes(Buffer.from(canonicalJson(config)), layers);
  }

  /** As `write`, from the exact config bytes (a cached step comes back with the same ID). */
  async writeBytes(bytes: Buffer, layers: LayerRecord[]): Promise<{ id: string; created: boolean }> {
    const id = digestOf(bytes);
    if (this.deps.table.get(id)) return { id, created: false };
    await this.unpackChain(layers);
    if (!(await this.deps.content.has(id))) await this.deps.content.ingest(`config-${id}`, { digest: id, size: bytes.length }, bytes);
    const diffIds = layers.map((l) => l.diffId as Digest);
    this.deps.table.put({
      id,
      configBytes: bytes.toString('utf8'),
      manifestDigest: null,
      manifestMediaType: null,
      layers,
      chainId: chainIds(diffIds).at(-1) ?? null,
      size: layers.reduce((a, l) => a + (l.uncompressedSize ?? l.size), 0),
      createdAt: Date.now(),
    });
    return { id, created: true };
  }

  /** Applies the layers (blobs in the content store) to snapshots where missing; the top chain ID. */
  async unpackChain(layers: LayerRecord[]): Promise<Digest | undefined> {
    let parent: Digest | undefined;
    for (const l of layers) {
      const res = await this.deps.unpack({ mediaType: l.mediaType, digest: l.digest as Digest, size: l.size }, parent, l.diffId as Digest);
      parent = res.chainId;
    }
    return parent;
  }

  /** True when every layer blob is still stored (a cached step can be brought back). */
  async intact(layers: LayerRecord[]): Promise<boolean> {
    const present = await Promise.all(layers.map((l) => this.deps.content.has(l.digest as Digest)));
    return present.every(Boolean);
  }

  /** The stored config bytes of an image. */
  configBytes(id: string): string | undefined {
    return this.deps.table.get(id)?.configBytes;
  }

  /** The directories of a committed snapshot's layers, topmost first (overlay lowerdirs, or a native copy). */
  async layerDirs(chainId: string): Promise<string[]> {
    const m = (await this.deps.snapshotMounts(chainId))[0];
    if (!m) return [];
    if (m.type !== 'overlay') return [m.source];
    const lower = m.options.find((o) => o.startsWith('lowerdir='));
    return lower ? lower.slice('lowerdir='.length).split(':') : [];
  }

  /** Mounts a committed snapshot read-only at `dir` (created). */
  async mount(chainId: string, dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    await mountAll(await this.deps.snapshotMounts(chainId), dir);
  }

  async unmount(dir: string): Promise<void> {
    await unmount(dir);
    await rmdir(dir).catch(() => undefined);
  }

  diffContainer(id: string, opts?: DiffContainerOptions): ReturnType<BuildStorageDeps['diffContainer']> {
    return this.deps.diffContainer(id, opts);
  }

  layerOf(diff: { descriptor: Descriptor; diffId: Digest }): LayerRecord {
    return { digest: diff.descriptor.digest, mediaType: diff.descriptor.mediaType, size: diff.descriptor.size, diffId: diff.diffId };
  }
}

/** A cached step: the image it made, kept whole so it can be stored again once removed. */
export interface CachedStep {
  imageId: string;
  config: string;
  layers: LayerRecord[];
}

/**
 * Classic-builder cache: (parent image, step description) -> the image that step made. The
 * entry keeps the image's config and layer list: a build removes its intermediate images
 * (their layers live on in the result), and a later hit writes the same image back.
 */
export class BuildCache {
  constructor(private readonly db: Db) {
    db.exec(`CREATE TABLE IF NOT EXISTS eng_build_cache (
      key TEXT PRIMARY KEY, image_id TEXT NOT NULL, created_at INTEGER NOT NULL, config TEXT, layers TEXT)`);
    // A root from before entries kept their image whole: add the columns (old rows miss).
    const cols = (db.prepare('PRAGMA table_info(eng_build_cache)').all() as { name: string }[]).map((c) => c.name);
    for (const c of ['config', 'layers']) if (!cols.includes(c)) db.exec(`ALTER TABLE eng_build_cache ADD COLUMN ${c} TEXT`);
  }

  static key(parent: string, step: string): string {
    return digestOf(Buffer.from(`${parent}\n${step}`));
  }

  get(key: string): CachedStep | undefined {
    const row = this.db.prepare('SELECT image_id, config, layers FROM eng_build_cache WHERE key = ?').get(key) as { image_id: string; config: string | null; layers: string | null } | undefined;
    if (!row?.config || !row.layers) return undefined;
    return { imageId: row.image_id, config: row.config, layers: JSON.parse(row.layers) as LayerRecord[] };
  }

  put(key: string, step: CachedStep): void {
    this.db
      .prepare('INSERT OR REPLACE INTO eng_build_cache (key, image_id, created_at, config, layers) VALUES (?, ?, ?, ?, ?)')
      .run(key, step.imageId, Date.now(), step.config, JSON.stringify(step.layers));
  }

  drop(key: string): void {
    this.db.prepare('DELETE FROM eng_build_cache WHERE key = ?').run(key);
  }

  /** Forgets every entry; resolves with the keys dropped. */
  prune(): string[] {
    const keys = (this.db.prepare('SELECT key FROM eng_build_cache').all() as { key: string }[]).map((r) => r.key);
    this.db.prepare('DELETE FROM eng_build_cache').run();
    return keys;
  }
}
