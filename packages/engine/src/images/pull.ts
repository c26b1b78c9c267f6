import { NoMatchingManifestError, NotFoundError, chainIds, formatPlatform, hostPlatform, isLayerMediaType, normalizeReference, parseImageConfig, parsePlatform, type Descriptor, type Digest } from '@berth/image-format';
import type { RegistryClient } from '@berth/registry-client';
import type { ImageInspect } from '../docker-types.js';
import type { PullOptions } from '../services.js';
import { ApplyingSink } from './applying-sink.js';
import { checkPulledOs } from './host-os.js';
import type { ImageDeps, StorageDeps } from './deps.js';
import { layerMessage } from './progress.js';
import { readAll, type ImageRecords } from './records.js';
import { refKey } from './table.js';

/** As Docker: 3 blobs at once (6 measured no faster on the big image here). */
const DEFAULT_CONCURRENT_DOWNLOADS = 3;

/** docker pull: resolves through the registry client, unpacks layers while the rest download. */
export class ImagePuller {
  private readonly inflight = new Map<string, Promise<ImageInspect>>();

  constructor(
    private readonly deps: ImageDeps,
    private readonly records: ImageRecords,
  ) {}

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
    const { client, release } = this.deps.registry(opts.auth, ref.domain);
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
    // as dockerd, once the registry answered with the manifest (a missing one is the request's error status)
    let announced = false;
    const announce = (): void => {
      if (!announced) emit({ status: `Pulling from ${ref.path}`, id: ref.tag ?? ref.digest ?? 'latest' });
      announced = true;
    };
    // what this very reference named before (not a manifest digest matched some other way):
    // dockerd's "Downloaded newer image" means the reference was set or moved
    const before = this.deps.table.byRef(refKey(ref.toString()));
    const content = this.deps.storage.content;
    let configDigest: Digest | undefined;
    let diffIds: Digest[] | undefined;
    const shortOf = (d: string): string => d.slice(d.indexOf(':') + 1, d.indexOf(':') + 13);
    const seenLayer = new Set<string>();
    const skipped = new Set<number>();
    let pulledLayers: Descriptor[] = [];
    const unpack = this.deps.storage.chainUnpacker({
      onLayerDone: (index, res) => {
        const layer = pulledLayers[index];
        if (!skipped.has(index) && layer) emit(layerMessage(res.applied ? 'Pull complete' : 'Already exists', shortOf(layer.digest)));
      },
    });
    const knownIds: (Digest | undefined)[] = [];
    const sink = new ApplyingSink(content, unpack);
    let result;
    try {
      result = await client.pull(ref, this.deps.applyWhileDownloading === false ? content : sink, {
        platform,
        concurrency: this.deps.maxConcurrentDownloads ?? DEFAULT_CONCURRENT_DOWNLOADS,
        ...(opts.signal ? { signal: opts.signal } : {}),
        onManifest: announce,
        onConfig: (config) => checkPulledOs(this.deps.hostOs, config),
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
            if (await this.records.snapshotExists(chain)) {
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
      // dockerd's words for an index without this host's platform (a Windows host's keep the os.version detail)
      if (err instanceof NoMatchingManifestError && err.wanted.os !== 'windows') {
        throw new NotFoundError(`no matching manifest for ${formatPlatform(err.wanted)} in the manifest list entries`, { cause: err });
      }
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
    const rec = await this.records.register({
      configBytes: configBytesEarly,
      manifest: { bytes: result.manifestBytes, digest: result.manifestDigest, mediaType: result.manifestDescriptor.mediaType },
      layers: result.layers,
      diffIds: applied.map((a) => a.diffId),
      uncompressedSizes: applied.map((a, i) => a.size ?? this.knownUncompressed(result.layers[i]?.digest)),
      ...(result.index ? { indexSize: result.index.bytes.length } : {}),
    });
    if (ref.tag) this.records.setTag(ref.toString(), rec.id);
    // dockerd 20.10 records (and prints) the digest the reference resolved to: an index's
    // own, not the platform manifest's picked from it
    const pulledDigest = result.index?.descriptor.digest ?? result.manifestDigest;
    this.deps.table.setRef(`${ref.name}@${pulledDigest}`, rec.id, 'digest');
    this.deps.events.emit('image', 'pull', ref.familiar(), { name: ref.familiar() });
    emit({ status: `Digest: ${pulledDigest}` });
    const familiar = ref.familiar();
    emit({ status: before === rec.id ? `Status: Image is up to date for ${familiar}` : `Status: Downloaded newer image for ${familiar}` });
    return this.records.inspect(rec.id);
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
    for (const img of this.deps.table.all()) {
      const l = img.layers.find((x) => x.digest === blob && x.uncompressedSize !== undefined);
      if (l) return l.uncompressedSize;
    }
    return undefined;
  }

  /** A layer blob applied before (by any image) has a known diffID. */
  private async knownDiffId(blob: Digest): Promise<Digest | undefined> {
    for (const img of this.deps.table.all()) {
      const l = img.layers.find((x) => x.digest === blob);
      if (l) return l.diffId as Digest;
    }
    return undefined;
  }
}
