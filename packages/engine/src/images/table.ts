import { InvalidArgumentError, NotFoundError, normalizeReference, parseReference, type Descriptor } from '@berth/image-format';
import type { Db } from '../state/db.js';

export interface LayerRecord {
  digest: string;
  mediaType: string;
  size: number;
  diffId: string;
  /** Bytes of the uncompressed tar, once known (unpack or save measured it). */
  uncompressedSize?: number;
  /** The entries' total size, Docker's layer size (image Size, history), when the unpack recorded it. */
  contentSize?: number;
  /**
   * A foreign (non-distributable) layer's descriptor with its `urls`, as pulled or loaded
   * (manifest.json LayerSources): save writes it back, push puts it in the manifest and
   * leaves the blob out, as Docker does.
   */
  source?: Descriptor;
}

/** A layer's size as Docker reports it, falling back to the tar's size for layers unpacked before it was recorded. */
export function dockerLayerSize(l: LayerRecord): number {
  return l.contentSize ?? l.uncompressedSize ?? l.size;
}

export interface ImageRecord {
  id: string;
  configBytes: string;
  manifestDigest: string | null;
  manifestMediaType: string | null;
  layers: LayerRecord[];
  chainId: string | null;
  size: number;
  createdAt: number;
  lastTagTime: number;
  /** The local image this one was made from (commit), as Docker's Parent; null when none. */
  parent: string | null;
  /** Bytes of the index (manifest list) the pull picked this image's manifest from; null when it named a manifest or was not pulled. */
  indexSize?: number | null;
}

interface Row {
  id: string;
  config: string;
  manifest_digest: string | null;
  manifest_media_type: string | null;
  layers: string;
  chain_id: string | null;
  size: number;
  created_at: number;
  last_tag_time: number;
  parent: string | null;
  index_size: number | null;
}

const fromRow = (r: Row): ImageRecord => ({
  id: r.id,
  configBytes: r.config,
  manifestDigest: r.manifest_digest,
  manifestMediaType: r.manifest_media_type,
  layers: JSON.parse(r.layers) as LayerRecord[],
  chainId: r.chain_id,
  size: r.size,
  createdAt: r.created_at,
  lastTagTime: r.last_tag_time,
  parent: r.parent ?? null,
  indexSize: r.index_size ?? null,
});

/** Normalised key of a user reference: `docker.io/library/busybox:latest` or `name@sha256:...`. */
export function refKey(ref: string): string {
  return normalizeReference(ref).toString();
}

/** Images by config digest, and the tags and digests pointing at them. */
export class ImageTable {
  constructor(private readonly db: Db) {}

  put(r: Omit<ImageRecord, 'lastTagTime' | 'parent'> & { parent?: string | null }): void {
    this.db
      .prepare(
        `INSERT INTO eng_images (id, config, manifest_digest, manifest_media_type, layers, chain_id, size, created_at, parent, index_size)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET manifest_digest = COALESCE(excluded.manifest_digest, manifest_digest),
           manifest_media_type = COALESCE(excluded.manifest_media_type, manifest_media_type),
           parent = COALESCE(excluded.parent, parent), index_size = COALESCE(index_size, excluded.index_size)`,
      )
      .run(r.id, r.configBytes, r.manifestDigest, r.manifestMediaType, JSON.stringify(r.layers), r.chainId, r.size, r.createdAt, r.parent ?? null, r.indexSize ?? null);
  }

  /** Images whose Parent is `id` (Docker refuses to delete a parent by ID while they exist). */
  childrenOf(id: string): string[] {
    return (this.db.prepare('SELECT id FROM eng_images WHERE parent = ?').all(id) as { id: string }[]).map((r) => r.id);
  }

  get(id: string): ImageRecord | undefined {
    const row = this.db.prepare('SELECT * FROM eng_images WHERE id = ?').get(id) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  all(): ImageRecord[] {
    return (this.db.prepare('SELECT * FROM eng_images ORDER BY created_at DESC').all() as Row[]).map(fromRow);
  }

  /** Stores what was learnt about an image's layers (e.g. uncompressed sizes). */
  updateLayers(id: string, layers: LayerRecord[]): void {
    this.db.prepare('UPDATE eng_images SET layers = ? WHERE id = ?').run(JSON.stringify(layers), id);
  }

  delete(id: string): void {
    this.db.prepare('DELETE FROM eng_images WHERE id = ?').run(id);
  }

  /** Points `key` (normalised) at the image; returns the image it pointed at before. */
  setRef(key: string, imageId: string, kind: 'tag' | 'digest'): string | undefined {
    const prev = this.db.prepare('SELECT image_id FROM eng_tags WHERE ref = ?').get(key) as { image_id: string } | undefined;
    this.db.prepare('INSERT OR REPLACE INTO eng_tags (ref, image_id, kind, created_at) VALUES (?, ?, ?, ?)').run(key, imageId, kind, Date.now());
    if (kind === 'tag') this.db.prepare('UPDATE eng_images SET last_tag_time = ? WHERE id = ?').run(Date.now(), imageId);
    return prev?.image_id;
  }

  deleteRef(key: string): void {
    this.db.prepare('DELETE FROM eng_tags WHERE ref = ?').run(key);
  }

  refsOf(imageId: string): { ref: string; kind: 'tag' | 'digest' }[] {
    return this.db.prepare('SELECT ref, kind FROM eng_tags WHERE image_id = ? ORDER BY ref').all(imageId) as { ref: string; kind: 'tag' | 'digest' }[];
  }

  byRef(key: string): string | undefined {
    return (this.db.prepare('SELECT image_id FROM eng_tags WHERE ref = ?').get(key) as { image_id: string } | undefined)?.image_id;
  }

  /**
   * Docker's lookup order: a reference that names a tag or digest we hold, then a full
   * image ID (`sha256:...` or 64 hex), then a unique ID prefix.
   */
  resolve(input: string): ImageRecord {
    const miss = (): NotFoundError => new NotFoundError(`No such image: ${input}`);
    if (!input) throw miss();
    const hexId = /^(sha256:)?([0-9a-f]{1,64})$/.exec(input);
    let parsed = true;
    try {
      parseReference(input);
      const key = refKey(input);
      const id = this.byRef(key);
      // Only the references recorded: name@<platform manifest digest> of an image pulled
      // through its index is not one (dockerd 20.10: "No such image"; run pulls it).
      if (id) return this.get(id) ?? (() => { throw miss(); })();
    } catch (err) {
      if (!(err instanceof InvalidArgumentError)) throw err;
      parsed = false;
    }
    if (hexId) {
      const hex = hexId[2]!;
      const full = this.get(`sha256:${hex}`);
      if (full) return full;
      if (hexId[1] || hex.length < 64) {
        const rows = this.db.prepare('SELECT * FROM eng_images WHERE id >= ? AND id < ? LIMIT 2').all(`sha256:${hex}`, `sha256:${hex}g`) as Row[];
        if (rows.length === 1) return fromRow(rows[0]!);
      }
    }
    if (!parsed && !hexId) throw new InvalidArgumentError(`invalid reference format: ${input}`);
    throw miss();
  }
}
