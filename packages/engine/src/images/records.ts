import type { Readable } from 'node:stream';
import {
  DigestMismatchError,
  InvalidArgumentError,
  chainIds,
  digestOf,
  hostPlatform,
  layerCompression,
  normalizeReference,
  parseImageConfig,
  type Descriptor,
  type Digest,
  type OciLayout,
} from '@berth/image-format';
import { CONTENT_SIZE_LABEL } from '@berth/layer-store';
import type { ImageInspect } from '../docker-types.js';
import type { ImageDeps } from './deps.js';
import { inspectImage } from './describe.js';
import { foreignSource } from './foreign-layers.js';
import { dockerLayerSize, type ImageRecord, type LayerRecord } from './table.js';
import { Unpacker } from './unpack.js';

/**
 * The image table's writes: an image whose blobs are in the content store becomes a record
 * (its layers unpacked, sizes known), and tags move with Docker's events.
 */
export class ImageRecords {
  readonly unpacker: Unpacker;

  constructor(readonly deps: ImageDeps) {
    this.unpacker = new Unpacker(deps.storage);
  }

  inspect(refInput: string): ImageInspect {
    return inspectImage(this.deps.table, this.deps.table.resolve(refInput));
  }

  async register(
    args: {
      configBytes: Buffer;
      manifest?: { bytes: Buffer; digest: Digest; mediaType: string };
      layers: Descriptor[];
      diffIds?: Digest[];
      uncompressedSizes?: (number | undefined)[];
      /** Foreign layers' descriptors from an archive's LayerSources, by layer index. */
      sources?: (Descriptor | undefined)[];
      parent?: string;
      /** Bytes of the index a pull picked the manifest from. */
      indexSize?: number;
    },
    onLayerDone?: (layer: Descriptor, skipped: boolean) => void,
  ): Promise<ImageRecord> {
    const config = parseImageConfig(args.configBytes);
    const id = digestOf(args.configBytes);
    const expected = config.rootfs.diff_ids;
    if (expected.length !== args.layers.length) {
      throw new InvalidArgumentError(`image ${id}: config has ${expected.length} diff_ids but the manifest ${args.layers.length} layers`);
    }
    const records: LayerRecord[] = [];
    let parent: Digest | undefined;
    let size = 0;
    for (const [i, layer] of args.layers.entries()) {
      const known = args.diffIds?.[i];
      const res = await this.unpacker.apply(layer, parent, known ?? expected[i]);
      if (res.diffId !== expected[i]) throw new DigestMismatchError(expected[i]!, res.diffId, `layer ${i} diff_id`);
      parent = res.chainId;
      const uncompressed = layerCompression(layer.mediaType) === 'none' ? layer.size : args.uncompressedSizes?.[i];
      const contentSize = await this.contentSize(res.chainId);
      const source = foreignSource(layer, args.sources?.[i]);
      const record: LayerRecord = {
        digest: layer.digest,
        mediaType: layer.mediaType,
        size: layer.size,
        diffId: res.diffId,
        ...(uncompressed !== undefined ? { uncompressedSize: uncompressed } : {}),
        ...(contentSize !== undefined ? { contentSize } : {}),
        ...(source ? { source } : {}),
      };
      records.push(record);
      size += dockerLayerSize(record);
      onLayerDone?.(layer, res.skipped);
    }
    const chain = chainIds(expected);
    const rec: Omit<ImageRecord, 'lastTagTime'> = {
      id,
      parent: args.parent ?? null,
      indexSize: args.indexSize ?? null,
      configBytes: args.configBytes.toString('utf8'),
      manifestDigest: args.manifest?.digest ?? null,
      manifestMediaType: args.manifest?.mediaType ?? null,
      layers: records,
      chainId: chain.at(-1) ?? null,
      size,
      createdAt: config.created ? Date.parse(config.created) || Date.now() : Date.now(),
    };
    if (!(await this.deps.storage.content.has(id))) await this.deps.storage.content.ingest(`config-${id}`, { digest: id, size: args.configBytes.length }, args.configBytes);
    if (args.manifest && !(await this.deps.storage.content.has(args.manifest.digest))) {
      await this.deps.storage.content.ingest(`manifest-${args.manifest.digest}`, { digest: args.manifest.digest, size: args.manifest.bytes.length }, args.manifest.bytes);
    }
    this.deps.table.put(rec);
    return this.deps.table.get(id)!;
  }

  /** Points a tag at an image, emitting Docker's `tag` event; an image left without refs is `untag`ged. */
  setTag(refInput: string, imageId: string): void {
    const ref = normalizeReference(refInput);
    if (ref.digest && !ref.tag) {
      this.deps.table.setRef(ref.toString(), imageId, 'digest');
      return;
    }
    const prev = this.deps.table.setRef(ref.toString(), imageId, 'tag');
    this.deps.events.emit('image', 'tag', imageId, { name: ref.familiar() });
    if (prev && prev !== imageId && this.deps.table.refsOf(prev).length === 0) {
      this.deps.events.emit('image', 'untag', prev, { name: '' });
    }
  }

  /** The layer snapshot's recorded entry total (Docker's layer size), if its unpack recorded one. */
  async contentSize(chainId: string): Promise<number | undefined> {
    try {
      const v = (await this.deps.storage.snapshotter.stat(chainId)).labels?.[CONTENT_SIZE_LABEL];
      return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
    } catch {
      return undefined;
    }
  }

  async snapshotExists(chainId: string): Promise<boolean> {
    try {
      return (await this.deps.storage.snapshotter.stat(chainId)).kind === 'committed';
    } catch {
      return false;
    }
  }

  safeResolve(ref: string): ImageRecord | undefined {
    try {
      return this.deps.table.resolve(ref);
    } catch {
      return undefined;
    }
  }

  /** Ingests a stream of unknown digest; resolves with its digest. */
  async ingestUnknown(data: Readable): Promise<Digest> {
    const w = await this.deps.storage.content.writer(`ingest-${Date.now()}-${Math.random().toString(16).slice(2)}`);
    try {
      await w.append(data);
      return await w.commit();
    } catch (err) {
      if ((err as { code?: string; digest?: Digest }).digest && (err as Error).name === 'BlobExistsError') return (err as { digest: Digest }).digest;
      await w.abort().catch(() => undefined);
      throw err;
    }
  }

  async importFromLayout(layout: OciLayout, entryRef?: string): Promise<ImageRecord> {
    const img = await layout.resolveImage(entryRef, hostPlatform());
    const content = this.deps.storage.content;
    for (const l of img.manifest.layers) {
      if (!(await content.has(l.digest))) await content.ingest(`layout-${l.digest}`, { digest: l.digest, size: l.size }, layout.openBlob(l.digest));
    }
    const manifestBytes = await layout.readBlob(img.descriptor.digest);
    return this.register({
      configBytes: img.configBytes,
      manifest: { bytes: manifestBytes, digest: img.descriptor.digest, mediaType: img.descriptor.mediaType },
      layers: img.manifest.layers,
    });
  }
}

export async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
