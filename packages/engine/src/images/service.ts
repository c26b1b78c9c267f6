import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Transform, pipeline as pipelineCb } from 'node:stream';
import { createGunzip } from 'node:zlib';
import {
  BerthError,
  ConflictError,
  DigestMismatchError,
  InvalidArgumentError,
  MediaType,
  NotFoundError,
  canonicalJson,
  chainIds,
  digestOf,
  extractDockerArchive,
  extractOciLayout,
  hostPlatform,
  isLayerMediaType,
  layerCompression,
  normalizeReference,
  parseImageConfig,
  parsePlatform,
  readOciLayout,
  writeDockerArchive,
  type Descriptor,
  type Digest,
  type ImageConfig,
  type OciLayout,
} from '@berth/image-format';
import type { RegistryClient } from '@berth/registry-client';
import type {
  ContainerConfig,
  Filters,
  ImageDeleteItem,
  ImageHistoryItem,
  ImageInspect,
  ImageSummary,
  ProgressMessage,
  RegistryAuth,
} from '../docker-types.js';
import type { EventBus } from '../events.js';
import { FilterSet } from '../filters.js';
import type { CommitOptions, ImageService, ImportOptions, PullOptions, PushOptions } from '../services.js';
import type { ImageConfigLike } from '../spec.js';
import type { ResolvedImage, ImageLookup } from '../containers/service.js';
import { applyChanges } from './changes.js';
import { commitImageConfig } from './commit.js';
import { ENGINE_VERSION } from '../system.js';
import { fam, imageHistory, inspectImage, liveParent, repoDigests } from './describe.js';
import type { StorageDeps } from './deps.js';
import { ApplyingSink } from './applying-sink.js';
import { foreignSource, localManifest } from './foreign-layers.js';
import { CONTENT_SIZE_LABEL } from '@berth/layer-store';
import { loadArchive, type LoadOptions } from './load.js';
import { layerMessage } from './progress.js';
import { dockerLayerSize, ImageTable, refKey, type ImageRecord, type LayerRecord } from './table.js';
import { Unpacker } from './unpack.js';

export interface ContainerUse {
  id: string;
  running: boolean;
}

/** What commit needs to know about a container. */
export interface CommitSource {
  id: string;
  imageId: string;
  snapshotKey: string;
  config: ContainerConfig;
  running: boolean;
  pause(): Promise<void>;
  unpause(): Promise<void>;
}

export interface ImageDeps {
  table: ImageTable;
  storage: StorageDeps;
  events: EventBus;
  root: string;
  /** Settles when removed containers' snapshots (children of image layers) are released. */
  released?: () => Promise<void>;
  /** Containers that use an image. */
  usedBy(imageId: string): ContainerUse[];
  commitSource(container: string): CommitSource;
  /** A registry client, with per-call credentials when given. */
  registry(auth?: RegistryAuth, serverFromRef?: string): { client: RegistryClient; release(): Promise<void> };
  /** Builds the built-in busybox image as an OCI layout in `dir`; returns the ref name inside. */
  buildBusybox(dir: string): Promise<string>;
  /** Blobs of one pull downloaded at once (daemon.json's max-concurrent-downloads). */
  maxConcurrentDownloads?: number;
  /** Apply layers from the download stream rather than once each blob is stored (default). */
  applyWhileDownloading?: boolean;
}

/** As Docker: 3 blobs at once (6 measured no faster on the big image here). */
const DEFAULT_CONCURRENT_DOWNLOADS = 3;

export class Images implements ImageService, ImageLookup {
  private readonly unpacker: Unpacker;
  private readonly inflight = new Map<string, Promise<ImageInspect>>();

  constructor(private readonly d: ImageDeps) {
    this.unpacker = new Unpacker(d.storage);
  }

  // ---------- lookup for containers ----------

  resolve(ref: string): ResolvedImage {
    const r = this.d.table.resolve(ref);
    return { id: r.id, config: JSON.parse(r.configBytes) as ImageConfigLike, chainId: r.chainId ?? undefined };
  }

  displayName(ref: string, imageId: string): string {
    try {
      if (this.d.table.resolve(ref).id === imageId) return ref;
    } catch {
      // the reference moved or went away: show the ID as Docker does
    }
    return imageId;
  }

  // ---------- core: record an image whose blobs are in the content store ----------

  private async register(
    args: {
      configBytes: Buffer;
      manifest?: { bytes: Buffer; digest: Digest; mediaType: string };
      layers: Descriptor[];
      diffIds?: Digest[];
      uncompressedSizes?: (number | undefined)[];
      /** Foreign layers' descriptors from an archive's LayerSources, by layer index. */
      sources?: (Descriptor | undefined)[];
      parent?: string;
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
      configBytes: args.configBytes.toString('utf8'),
      manifestDigest: args.manifest?.digest ?? null,
      manifestMediaType: args.manifest?.mediaType ?? null,
      layers: records,
      chainId: chain.at(-1) ?? null,
      size,
      createdAt: config.created ? Date.parse(config.created) || Date.now() : Date.now(),
    };
    if (!(await this.d.storage.content.has(id))) await this.d.storage.content.ingest(`config-${id}`, { digest: id, size: args.configBytes.length }, args.configBytes);
    if (args.manifest && !(await this.d.storage.content.has(args.manifest.digest))) {
      await this.d.storage.content.ingest(`manifest-${args.manifest.digest}`, { digest: args.manifest.digest, size: args.manifest.bytes.length }, args.manifest.bytes);
    }
    this.d.table.put(rec);
    return this.d.table.get(id)!;
  }

  /** Points a tag at an image, emitting Docker's `tag` event; an image left without refs is `untag`ged. */
  private setTag(refInput: string, imageId: string): void {
    const ref = normalizeReference(refInput);
    if (ref.digest && !ref.tag) {
      this.d.table.setRef(ref.toString(), imageId, 'digest');
      return;
    }
    const prev = this.d.table.setRef(ref.toString(), imageId, 'tag');
    this.d.events.emit('image', 'tag', imageId, { name: ref.familiar() });
    if (prev && prev !== imageId && this.d.table.refsOf(prev).length === 0) {
      this.d.events.emit('image', 'untag', prev, { name: '' });
    }
  }

  // ---------- pull / push ----------

  pull(refInput: string, opts: PullOptions = {}): Promise<ImageInspect> {
    const ref = normalizeReference(refInput);
    const key = ref.toString() + '|' + (opts.platform ?? '');
    // Concurrent pulls of one reference share the work (each caller still gets the result).
    const running = this.inflight.get(key);
    if (running) return running;
    const p = this.doPull(refInput, opts).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  private async doPull(refInput: string, opts: PullOptions): Promise<ImageInspect> {
    const ref = normalizeReference(refInput);
    const { client, release } = this.d.registry(opts.auth, ref.domain);
    try {
      return await this.pullWith(client, refInput, opts);
    } finally {
      await release();
    }
  }

  private async pullWith(client: RegistryClient, refInput: string, opts: PullOptions): Promise<ImageInspect> {
    const ref = normalizeReference(refInput);
    const emit = opts.onProgress ?? (() => undefined);
    const platform = opts.platform ? parsePlatform(opts.platform) : hostPlatform();
    emit({ status: `Pulling from ${ref.familiarName()}`, id: ref.tag ?? ref.digest ?? 'latest' });
    const before = this.safeResolve(ref.toString());
    const content = this.d.storage.content;
    let configDigest: Digest | undefined;
    let diffIds: Digest[] | undefined;
    const shortOf = (d: string): string => d.slice(d.indexOf(':') + 1, d.indexOf(':') + 13);
    const seenLayer = new Set<string>();
    const skipped = new Set<number>();
    let pulledLayers: Descriptor[] = [];
    const unpack = this.d.storage.chainUnpacker({
      onLayerDone: (index, res) => {
        const layer = pulledLayers[index];
        if (!skipped.has(index) && layer) emit(layerMessage(res.applied ? 'Pull complete' : 'Already exists', shortOf(layer.digest)));
      },
    });
    const knownIds: (Digest | undefined)[] = [];
    const sink = new ApplyingSink(content, unpack);
    let result;
    try {
      result = await client.pull(ref, this.d.applyWhileDownloading === false ? content : sink, {
        platform,
        concurrency: this.d.maxConcurrentDownloads ?? DEFAULT_CONCURRENT_DOWNLOADS,
        ...(opts.signal ? { signal: opts.signal } : {}),
        onProgress: (e) => {
          sink.mediaTypes.set(e.digest, e.mediaType);
          if (!isLayerMediaType(e.mediaType)) {
            if ((e.state === 'done' || e.state === 'exists') && /config/.test(e.mediaType)) configDigest = e.digest;
            return;
          }
          if (!seenLayer.has(e.id)) {
            seenLayer.add(e.id);
            if (e.state !== 'exists') emit(layerMessage('Pulling fs layer', e.id));
          }
          switch (e.state) {
            case 'waiting':
              emit(layerMessage('Waiting', e.id));
              break;
            case 'downloading':
              emit(layerMessage('Downloading', e.id, e.current, e.total));
              break;
            case 'verifying':
              emit(layerMessage('Verifying Checksum', e.id));
              break;
            case 'done':
              emit(layerMessage('Download complete', e.id));
              break;
            default:
              break;
          }
        },
        // Each layer starts unpacking into its own detached snapshot as soon as it is in,
        // while the next ones download; commits follow in chain order once the pull is through.
        onLayer: async (layer, index) => {
          if (!diffIds && configDigest !== undefined) diffIds = await this.diffIdsFromStore(content, configDigest);
          // Without the config yet, a blob applied before (by any local image) has a known diffID.
          knownIds[index] = diffIds?.[index] ?? (await this.knownDiffId(layer.digest as Digest));
          const prefix = knownIds.slice(0, index + 1);
          if (prefix.length === index + 1 && prefix.every((d) => d !== undefined)) {
            const chain = chainIds(prefix as Digest[]).at(-1)!;
            if (await this.snapshotExists(chain)) {
              skipped.add(index);
              emit(layerMessage('Already exists', shortOf(layer.digest)));
              return;
            }
          }
          unpack.begin(layer, diffIds?.[index]);
        },
      });
    } catch (err) {
      await unpack.discard();
      throw err;
    }
    pulledLayers = result.layers;
    const configBytesEarly = await readAll(await content.read(result.configDescriptor.digest));
    const wantDiffIds = parseImageConfig(configBytesEarly).rootfs.diff_ids;
    let applied: { chainId: Digest; diffId: Digest; size?: number }[];
    try {
      applied = await unpack.commit(result.layers, wantDiffIds);
    } finally {
      await unpack.discard();
    }
    const rec = await this.register({
      configBytes: configBytesEarly,
      manifest: { bytes: result.manifestBytes, digest: result.manifestDigest, mediaType: result.manifestDescriptor.mediaType },
      layers: result.layers,
      diffIds: applied.map((a) => a.diffId),
      uncompressedSizes: applied.map((a, i) => a.size ?? this.knownUncompressed(result.layers[i]?.digest)),
    });
    if (ref.tag) this.setTag(ref.toString(), rec.id);
    this.d.table.setRef(`${ref.name}@${result.manifestDigest}`, rec.id, 'digest');
    this.d.events.emit('image', 'pull', ref.familiar(), { name: ref.familiar() });
    emit({ status: `Digest: ${result.manifestDigest}` });
    const familiar = ref.familiar();
    emit({ status: before?.id === rec.id ? `Status: Image is up to date for ${familiar}` : `Status: Downloaded newer image for ${familiar}` });
    return this.inspect(rec.id);
  }

  /** The layer snapshot's recorded entry total (Docker's layer size), if its unpack recorded one. */
  private async contentSize(chainId: string): Promise<number | undefined> {
    try {
      const v = (await this.d.storage.snapshotter.stat(chainId)).labels?.[CONTENT_SIZE_LABEL];
      return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
    } catch {
      return undefined;
    }
  }

  private async snapshotExists(chainId: string): Promise<boolean> {
    try {
      return (await this.d.storage.snapshotter.stat(chainId)).kind === 'committed';
    } catch {
      return false;
    }
  }

  private async diffIdsFromStore(content: StorageDeps['content'], digest: Digest | undefined): Promise<Digest[] | undefined> {
    if (!digest || !(await content.has(digest))) return undefined;
    try {
      return parseImageConfig(await readAll(await content.read(digest))).rootfs.diff_ids;
    } catch {
      return undefined;
    }
  }

  private knownUncompressed(blob: string | undefined): number | undefined {
    if (!blob) return undefined;
    for (const img of this.d.table.all()) {
      const l = img.layers.find((x) => x.digest === blob && x.uncompressedSize !== undefined);
      if (l) return l.uncompressedSize;
    }
    return undefined;
  }

  /** A layer blob applied before (by any image) has a known diffID. */
  private async knownDiffId(blob: Digest): Promise<Digest | undefined> {
    for (const img of this.d.table.all()) {
      const l = img.layers.find((x) => x.digest === blob);
      if (l) return l.diffId as Digest;
    }
    return undefined;
  }

  async push(refInput: string, opts: PushOptions = {}): Promise<{ digest: string; size: number; tag: string }> {
    const ref = normalizeReference(refInput);
    const rec = this.d.table.resolve(refInput);
    const emit = opts.onProgress ?? (() => undefined);
    const manifestBytes = await this.manifestFor(rec);
    emit({ status: `The push refers to repository [${ref.name}]` });
    const { client, release } = this.d.registry(opts.auth, ref.domain);
    const content = this.d.storage.content;
    const res = await client.push(ref, { open: (d) => content.read(d), size: async (d) => (await content.info(d)).size }, {
      manifest: { bytes: manifestBytes.bytes, mediaType: manifestBytes.mediaType },
      ...(opts.signal ? { signal: opts.signal } : {}),
      onProgress: (e) => {
        if (!isLayerMediaType(e.mediaType)) return;
        if (e.state === 'waiting') emit(layerMessage('Preparing', e.id));
        else if (e.state === 'uploading') emit(layerMessage('Pushing', e.id, e.current, e.total));
        else if (e.state === 'exists') emit(layerMessage('Layer already exists', e.id));
        else if (e.state === 'mounted') emit(layerMessage(`Mounted from ${ref.path}`, e.id));
        else if (e.state === 'done') emit(layerMessage('Pushed', e.id));
      },
    }).finally(() => release());
    const tag = ref.tag ?? 'latest';
    emit({ status: `${tag}: digest: ${res.manifestDigest} size: ${res.size}` });
    emit({ progressDetail: {}, aux: { Tag: tag, Digest: res.manifestDigest, Size: res.size } });
    this.d.table.setRef(`${ref.name}@${res.manifestDigest}`, rec.id, 'digest');
    this.d.events.emit('image', 'push', ref.familiar(), { name: ref.familiar() });
    return { digest: res.manifestDigest, size: res.size, tag };
  }

  /** The image's manifest bytes; images made locally (commit, import, load) get an OCI manifest on demand. */
  private async manifestFor(rec: ImageRecord): Promise<{ bytes: Buffer; mediaType: string }> {
    const content = this.d.storage.content;
    if (rec.manifestDigest && (await content.has(rec.manifestDigest as Digest))) {
      return { bytes: await readAll(await content.read(rec.manifestDigest as Digest)), mediaType: rec.manifestMediaType ?? MediaType.OciManifest };
    }
    const { bytes, mediaType } = localManifest(rec.configBytes, rec.id as Digest, rec.layers);
    const digest = digestOf(bytes);
    if (!(await content.has(digest))) await content.ingest(`manifest-${digest}`, { digest, size: bytes.length }, bytes);
    this.d.table.put({ ...rec, manifestDigest: digest, manifestMediaType: mediaType });
    return { bytes, mediaType };
  }

  // ---------- tags, removal ----------

  async tag(source: string, target: string): Promise<void> {
    const rec = this.d.table.resolve(source);
    const ref = normalizeReference(target);
    if (ref.digest) throw new InvalidArgumentError('refusing to create a tag with a digest reference');
    if (/^[0-9a-f]{64}$/.test(ref.path)) throw new InvalidArgumentError('refusing to create an ambiguous tag using digest algorithm as name');
    this.setTag(target, rec.id);
  }

  async remove(refInput: string, opts: { force?: boolean; noprune?: boolean } = {}): Promise<ImageDeleteItem[]> {
    const rec = this.d.table.resolve(refInput);
    await this.d.released?.();
    const out: ImageDeleteItem[] = [];
    const users = this.d.usedBy(rec.id);
    const short = rec.id.slice(7, 19);
    const byId = /^(sha256:)?[0-9a-f]{1,64}$/.test(refInput) && !this.refMatches(refInput, rec.id);
    const tags = this.d.table.refsOf(rec.id);
    const running = users.find((u) => u.running);
    if (!byId) {
      const key = refKey(refInput);
      const named = tags.filter((t) => t.kind === 'tag');
      const isLast = named.length <= 1;
      if (isLast && users.length > 0 && !opts.force) {
        throw new ConflictError(
          `conflict: unable to remove repository reference "${refInput}" (must force) - container ${users[0]!.id.slice(0, 12)} is using its referenced image ${short}`,
        );
      }
      this.d.table.deleteRef(key);
      out.push({ Untagged: normalizeReference(refInput).familiar() });
      this.d.events.emit('image', 'untag', rec.id, { name: normalizeReference(refInput).familiar() });
      if (!isLast || users.length > 0 || this.d.table.childrenOf(rec.id).length > 0) return out;
      for (const t of this.d.table.refsOf(rec.id)) {
        this.d.table.deleteRef(t.ref);
        out.push({ Untagged: fam(t.ref) });
      }
    } else {
      if (this.d.table.childrenOf(rec.id).length > 0) {
        throw new ConflictError(`conflict: unable to delete ${short} (cannot be forced) - image has dependent child images`);
      }
      if (running && !opts.force) {
        throw new ConflictError(`conflict: unable to delete ${short} (cannot be forced) - image is being used by running container ${running.id.slice(0, 12)}`);
      }
      if (running) throw new ConflictError(`conflict: unable to delete ${short} (cannot be forced) - image is being used by running container ${running.id.slice(0, 12)}`);
      if (users.length > 0 && !opts.force) {
        throw new ConflictError(`conflict: unable to delete ${short} (must be forced) - image is being used by stopped container ${users[0]!.id.slice(0, 12)}`);
      }
      if (tags.filter((t) => t.kind === 'tag').length > 1 && !opts.force) {
        throw new ConflictError(`conflict: unable to delete ${short} (must be forced) - image is referenced in multiple repositories`);
      }
      for (const t of tags) {
        this.d.table.deleteRef(t.ref);
        out.push({ Untagged: fam(t.ref) });
        if (t.kind === 'tag') this.d.events.emit('image', 'untag', rec.id, { name: fam(t.ref) });
      }
      if (users.length > 0) return out;
    }
    out.push(...(await this.deleteImage(rec)));
    if (!opts.noprune) out.push(...(await this.pruneParents(rec)));
    return out;
  }

  /** As Docker: a deleted image's parents go too while they are untagged, unused and childless. */
  private async pruneParents(rec: ImageRecord): Promise<ImageDeleteItem[]> {
    const out: ImageDeleteItem[] = [];
    let parent = rec.parent ? this.d.table.get(rec.parent) : undefined;
    while (parent) {
      if (this.d.table.refsOf(parent.id).some((r) => r.kind === 'tag')) break;
      if (this.d.usedBy(parent.id).length > 0 || this.d.table.childrenOf(parent.id).length > 0) break;
      for (const t of this.d.table.refsOf(parent.id)) {
        this.d.table.deleteRef(t.ref);
        out.push({ Untagged: fam(t.ref) });
      }
      out.push(...(await this.deleteImage(parent)));
      parent = parent.parent ? this.d.table.get(parent.parent) : undefined;
    }
    return out;
  }

  private refMatches(input: string, id: string): boolean {
    try {
      return this.d.table.byRef(refKey(input)) === id;
    } catch {
      return false;
    }
  }

  /** Deletes the record, its unshared snapshots (top down) and unshared blobs. */
  private async deleteImage(rec: ImageRecord): Promise<ImageDeleteItem[]> {
    this.d.table.delete(rec.id);
    this.d.events.emit('image', 'delete', rec.id, { name: rec.id });
    const others = this.d.table.all();
    const liveBlobs = new Set<string>();
    const liveChains = new Set<string>();
    for (const o of others) {
      liveBlobs.add(o.id);
      if (o.manifestDigest) liveBlobs.add(o.manifestDigest);
      for (const l of o.layers) liveBlobs.add(l.digest);
      for (const c of chainIds(o.layers.map((l) => l.diffId as Digest))) liveChains.add(c);
    }
    const chain = chainIds(rec.layers.map((l) => l.diffId as Digest));
    for (const c of [...chain].reverse()) {
      if (liveChains.has(c)) break;
      try {
        await this.d.storage.snapshotter.remove(c);
      } catch {
        break; // a container's snapshot (or another image) still builds on it
      }
    }
    const content = this.d.storage.content;
    for (const d of [rec.id, rec.manifestDigest, ...rec.layers.map((l) => l.digest)]) {
      if (d && !liveBlobs.has(d)) await content.delete(d as Digest).catch(() => undefined);
    }
    return [{ Deleted: rec.id }];
  }

  // ---------- queries ----------

  async list(opts: { all?: boolean; filters?: Filters; digests?: boolean } = {}): Promise<ImageSummary[]> {
    const f = new FilterSet(opts.filters, ['dangling', 'label', 'before', 'since', 'reference', 'until']);
    const dangling = f.bool('dangling');
    const before = f.get('before').map((r) => this.d.table.resolve(r).createdAt);
    const since = f.get('since').map((r) => this.d.table.resolve(r).createdAt);
    const out: ImageSummary[] = [];
    for (const rec of this.d.table.all()) {
      const refs = this.d.table.refsOf(rec.id);
      const tags = refs.filter((r) => r.kind === 'tag').map((r) => fam(r.ref));
      const config = JSON.parse(rec.configBytes) as ImageConfig;
      const labels = (config.config?.Labels ?? {}) as Record<string, string>;
      if (dangling === true && tags.length > 0) continue;
      if (dangling === false && tags.length === 0) continue;
      if (!f.matchLabels('label', labels)) continue;
      if (before.length && !(rec.createdAt < Math.min(...before))) continue;
      if (since.length && !(rec.createdAt > Math.max(...since))) continue;
      if (f.has('reference') && !f.get('reference').some((pat) => tags.some((t) => matchRef(pat, t)))) continue;
      out.push({
        Id: rec.id,
        ParentId: liveParent(this.d.table, rec) ?? '',
        RepoTags: tags,
        RepoDigests: repoDigests(this.d.table, rec),
        Created: Math.floor(rec.createdAt / 1000),
        Size: rec.size,
        SharedSize: -1,
        Labels: labels,
        Containers: this.d.usedBy(rec.id).length,
      });
    }
    return out;
  }

  async inspect(refInput: string): Promise<ImageInspect> {
    return inspectImage(this.d.table, this.d.table.resolve(refInput));
  }

  async history(refInput: string): Promise<ImageHistoryItem[]> {
    return imageHistory(this.d.table, this.d.table.resolve(refInput));
  }

  // ---------- save / load / layouts ----------

  save(refs: string[]): Readable {
    const out = new PassThrough();
    void (async () => {
      const sources = refs.map((r) => {
        const rec = this.d.table.resolve(r);
        let repoTags: string[];
        try {
          const ref = normalizeReference(r);
          repoTags = this.d.table.byRef(ref.toString()) === rec.id && ref.tag ? [ref.familiar()] : [];
        } catch {
          repoTags = [];
        }
        if (repoTags.length === 0 && /^(sha256:)?[0-9a-f]+$/.test(r)) repoTags = [];
        return { rec, repoTags };
      });
      // As Docker: an image named twice (two tags, or a tag and its ID) is one entry with both tags.
      const byId = new Map<string, { rec: ImageRecord; repoTags: string[] }>();
      for (const s of sources) {
        const seen = byId.get(s.rec.id);
        if (seen) seen.repoTags.push(...s.repoTags.filter((t) => !seen.repoTags.includes(t)));
        else byId.set(s.rec.id, { rec: s.rec, repoTags: [...s.repoTags] });
      }
      sources.splice(0, sources.length, ...byId.values());
      const images = [];
      for (const { rec, repoTags } of sources) {
        const layers = [];
        let learnt = false;
        for (const l of rec.layers) {
          if (l.uncompressedSize === undefined) {
            l.uncompressedSize = layerCompression(l.mediaType) === 'none' ? l.size : await this.uncompressedSize(l);
            learnt = true;
          }
          layers.push({ diffId: l.diffId as Digest, size: l.uncompressedSize, ...(l.source ? { source: l.source } : {}), open: () => this.openUncompressed(l) });
        }
        if (learnt) this.d.table.updateLayers(rec.id, rec.layers);
        images.push({ config: Buffer.from(rec.configBytes), layers, repoTags });
      }
      for (const { rec } of sources) this.d.events.emit('image', 'save', rec.id, { name: rec.id });
      await writeDockerArchive(out, images);
    })().catch((err: unknown) => out.destroy(err as Error));
    return out;
  }

  private async openUncompressed(l: LayerRecord): Promise<Readable> {
    const raw = await this.d.storage.content.read(l.digest as Digest);
    const c = layerCompression(l.mediaType);
    // pipeline, not pipe: a reader that stops (a save cut off) closes the blob file too
    if (c === 'gzip') return pipelineCb(raw, createGunzip(), () => undefined);
    if (c === 'zstd') {
      const p = spawn('zstd', ['-dc'], { stdio: ['pipe', 'pipe', 'ignore'] });
      p.on('error', (err) => p.stdout.destroy(err));
      pipelineCb(raw, p.stdin, () => undefined);
      p.stdout.once('close', () => {
        raw.destroy();
        if (p.exitCode === null) p.kill();
      });
      return p.stdout;
    }
    return raw;
  }

  private async uncompressedSize(l: LayerRecord): Promise<number> {
    let n = 0;
    const s = await this.openUncompressed(l);
    for await (const chunk of s) n += (chunk as Buffer).length;
    return n;
  }

  load(archive: Readable, opts: LoadOptions = {}): Promise<string[]> {
    return loadArchive(
      {
        root: this.d.root,
        content: this.d.storage.content,
        table: this.d.table,
        events: this.d.events,
        register: (args) => this.register(args),
        setTag: (ref, id) => this.setTag(ref, id),
        importFromLayout: (layout, entry) => this.importFromLayout(layout, entry),
        ingestUnknown: (data) => this.ingestUnknown(data),
        snapshotExists: (chainId) => this.snapshotExists(chainId),
      },
      archive,
      opts,
    );
  }

  /** Ingests a stream of unknown digest; resolves with its digest. */
  private async ingestUnknown(data: Readable): Promise<Digest> {
    const w = await this.d.storage.content.writer(`ingest-${Date.now()}-${Math.random().toString(16).slice(2)}`);
    try {
      await w.append(data);
      return await w.commit();
    } catch (err) {
      if ((err as { code?: string; digest?: Digest }).digest && (err as Error).name === 'BlobExistsError') return (err as { digest: Digest }).digest;
      await w.abort().catch(() => undefined);
      throw err;
    }
  }

  private async importFromLayout(layout: OciLayout, entryRef?: string): Promise<ImageRecord> {
    const img = await layout.resolveImage(entryRef, hostPlatform());
    const content = this.d.storage.content;
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

  async loadLayout(dir: string, ref?: string): Promise<ImageInspect> {
    const layout = await readOciLayout(dir);
    const entries = layout.list();
    const entry = ref ? entries.find((e) => e.refName === ref || e.imageName === ref) : entries[0];
    const rec = await this.importFromLayout(layout, entry ? (entry.refName ?? entry.descriptor.digest) : ref);
    const name = ref && !entry ? ref : entry?.imageName ?? (entry?.refName && !/^[\w][\w.-]*$/.test(entry.refName) ? entry.refName : undefined);
    const tagAs = ref ?? name;
    if (tagAs) {
      try {
        this.setTag(tagAs, rec.id);
      } catch {
        // a bare ref name like `latest` is not an image name: leave the image untagged
      }
    }
    this.d.events.emit('image', 'load', rec.id, { name: rec.id });
    return this.inspect(rec.id);
  }

  async importRootfs(tar: Readable, opts: ImportOptions = {}): Promise<string> {
    const peek = new PeekCompression();
    // pipeline, not pipe: a client gone mid-upload must fail the ingest (and close its file), not stall it
    pipelineCb(tar, peek, () => undefined);
    const digest = await this.ingestUnknown(peek);
    const mediaType = peek.kind === 'gzip' ? MediaType.OciLayerGzip : peek.kind === 'zstd' ? MediaType.OciLayerZstd : MediaType.OciLayer;
    const size = (await this.d.storage.content.info(digest)).size;
    const layer: Descriptor = { mediaType, digest, size };
    const applied = await this.unpacker.apply(layer, undefined, undefined);
    const platform = opts.platform ? parsePlatform(opts.platform) : hostPlatform();
    const created = new Date().toISOString();
    const config: ImageConfig & { docker_version: string } = {
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      created,
      config: applyChanges({}, opts.changes) as ImageConfig['config'],
      docker_version: ENGINE_VERSION,
      rootfs: { type: 'layers', diff_ids: [applied.diffId] },
      history: [{ created, created_by: '', comment: opts.message || 'Imported from -' }],
    };
    const rec = await this.register({ configBytes: Buffer.from(canonicalJson(config)), layers: [layer], diffIds: [applied.diffId] });
    if (opts.ref) this.setTag(opts.ref, rec.id);
    this.d.events.emit('image', 'import', rec.id, { name: rec.id });
    return rec.id;
  }

  async commit(container: string, opts: CommitOptions = {}): Promise<{ Id: string }> {
    const src = this.d.commitSource(container);
    const base = this.d.table.get(src.imageId);
    if (!base) throw new NotFoundError(`No such image: ${src.imageId}`);
    const pause = (opts.pause ?? true) && src.running;
    if (pause) await src.pause().catch(() => undefined);
    let layer: Descriptor;
    let diffId: Digest;
    try {
      ({ layer, diffId } = await this.diffSnapshot(src.snapshotKey));
    } finally {
      if (pause) await src.unpause().catch(() => undefined);
    }
    const { config, emptyLayer } = commitImageConfig({
      base: JSON.parse(base.configBytes) as ImageConfig,
      container: { id: src.id, config: src.config },
      user: opts.config as ContainerConfig | undefined,
      changes: opts.changes,
      author: opts.author,
      comment: opts.comment,
      diffId,
      created: new Date().toISOString(),
      dockerVersion: ENGINE_VERSION,
    });
    const baseLayers = base.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest as Digest, size: l.size }));
    const baseDiffIds = base.layers.map((l) => l.diffId as Digest);
    const rec = await this.register({
      configBytes: Buffer.from(canonicalJson(config)),
      layers: emptyLayer ? baseLayers : [...baseLayers, layer],
      diffIds: emptyLayer ? baseDiffIds : [...baseDiffIds, diffId],
      parent: base.id,
    });
    if (opts.repo) this.setTag(opts.tag ? `${opts.repo}:${opts.tag}` : opts.repo, rec.id);
    this.d.events.emit('image', 'commit', rec.id, { name: rec.id, container: src.id });
    return { Id: rec.id };
  }

  /** The writable snapshot's changes as a gzip layer in the content store. */
  private async diffSnapshot(key: string): Promise<{ layer: Descriptor; diffId: Digest }> {
    const res = await this.d.storage.diff(key);
    return { layer: res.descriptor, diffId: res.diffId };
  }

  async prune(opts: { filters?: Filters } = {}): Promise<{ ImagesDeleted: ImageDeleteItem[]; SpaceReclaimed: number }> {
    const f = new FilterSet(opts.filters, ['dangling', 'label', 'until']);
    await this.d.released?.();
    const danglingOnly = f.bool('dangling') ?? true;
    const deleted: ImageDeleteItem[] = [];
    let space = 0;
    for (const rec of this.d.table.all()) {
      if (this.d.usedBy(rec.id).length > 0) continue;
      const tags = this.d.table.refsOf(rec.id).filter((r) => r.kind === 'tag');
      if (danglingOnly && tags.length > 0) continue;
      // An image others were committed from stays (Docker's conflict), and one that went
      // with its child below is gone.
      if (this.d.table.childrenOf(rec.id).length > 0 || !this.d.table.get(rec.id)) continue;
      const labels = ((JSON.parse(rec.configBytes) as ImageConfig).config?.Labels ?? {}) as Record<string, string>;
      if (!f.matchLabels('label', labels)) continue;
      for (const t of this.d.table.refsOf(rec.id)) {
        this.d.table.deleteRef(t.ref);
        deleted.push({ Untagged: fam(t.ref) });
      }
      space += rec.size;
      deleted.push(...(await this.deleteImage(rec)));
      deleted.push(...(await this.pruneParents(rec)));
    }
    this.d.events.emit('image', 'prune', '', { reclaimed: String(space) });
    return { ImagesDeleted: deleted, SpaceReclaimed: space };
  }

  async ensureBuiltin(name: 'busybox'): Promise<ImageInspect> {
    if (name !== 'busybox') throw new NotFoundError(`No such built-in image: ${name}`);
    const existing = this.safeResolve('busybox:latest');
    if (existing) return this.inspect(existing.id);
    const dir = await mkdtemp(join(tmpdir(), 'berth-busybox-'));
    try {
      const refName = await this.d.buildBusybox(dir);
      const layout = await readOciLayout(dir);
      const rec = await this.importFromLayout(layout, refName);
      this.setTag('busybox:latest', rec.id);
      return this.inspect(rec.id);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private safeResolve(ref: string): ImageRecord | undefined {
    try {
      return this.d.table.resolve(ref);
    } catch {
      return undefined;
    }
  }

  /** For /system/df and info. */
  count(): number {
    return this.d.table.all().length;
  }
}

function matchRef(pattern: string, familiar: string): boolean {
  const re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '.') + '$');
  return re.test(familiar) || re.test(familiar.replace(/:[^:/]+$/, ''));
}

async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Notes the compression of a stream from its magic bytes as it passes. */
class PeekCompression extends Transform {
  kind: 'none' | 'gzip' | 'zstd' = 'none';
  private seen = false;
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: (err?: Error | null, data?: Buffer) => void): void {
    if (!this.seen && chunk.length >= 4) {
      this.seen = true;
      if (chunk[0] === 0x1f && chunk[1] === 0x8b) this.kind = 'gzip';
      else if (chunk.readUInt32LE(0) === 0xfd2fb528) this.kind = 'zstd';
    }
    cb(null, chunk);
  }
}

