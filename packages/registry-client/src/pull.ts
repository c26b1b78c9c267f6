import { Readable } from 'node:stream';
import {
  BerthError,
  hostPlatform,
  selectManifest,
  type Descriptor,
  type Digest,
  type ImageManifest,
  type Platform,
  type Reference,
} from '@berth/image-format';
import { fetchBlob, fetchSmallBlob, isRetriable } from './blob-fetch.js';
import { limiter } from './limit.js';
import { fetchManifest, type FetchedManifest } from './manifests.js';
import { retryDelay, sleep, type RetryOptions } from './retry.js';
import type { RegistrySession } from './session.js';
import { shortId, type BlobSink, type ProgressEvent } from './sink.js';

export interface ResolveOptions {
  /** The platform to pick from an index (default: this host's). */
  platform?: Platform;
  signal?: AbortSignal;
  /** Called once the reference's manifest (or index) is fetched, before an entry is picked (dockerd says "Pulling from" here). */
  onManifest?: () => void;
}

/** A reference resolved to one image manifest. */
export interface ResolvedImage {
  /** The image manifest (after picking from an index). */
  manifest: ImageManifest;
  manifestBytes: Buffer;
  manifestDescriptor: Descriptor;
  /** The index or manifest list it was picked from, when the reference named one. */
  index?: { bytes: Buffer; descriptor: Descriptor };
}

export interface PullOptions extends ResolveOptions {
  /** Blobs downloaded at once (default 3). */
  concurrency?: number;
  onProgress?: (event: ProgressEvent) => void;
  /**
   * Called for each layer once it and every layer before it are committed, in order and
   * one at a time: apply layer N here while N+1 downloads. The pull waits for it.
   */
  onLayer?: (layer: Descriptor, index: number) => void | Promise<void>;
  /** Fetch non-distributable (foreign) layers from their `urls` (default true). */
  allowNondistributable?: boolean;
  /** Also write the manifest (and index) into the sink (default true). */
  storeManifests?: boolean;
  /**
   * Called with the parsed config as soon as it is fetched, before it is stored; a throw
   * aborts the pull (dockerd refuses an image whose OS the host cannot run at this point).
   */
  onConfig?: (config: unknown) => void | Promise<void>;
}

export interface PullResult extends ResolvedImage {
  manifestDigest: Digest;
  config: unknown;
  configDescriptor: Descriptor;
  layers: Descriptor[];
}

export async function resolveImage(session: RegistrySession, ref: Reference, opts: ResolveOptions = {}): Promise<ResolvedImage> {
  const top = await fetchManifest(session, ref, undefined, opts.signal);
  opts.onManifest?.();
  if (top.parsed.kind === 'manifest') {
    return { manifest: top.parsed.manifest, manifestBytes: top.bytes, manifestDescriptor: top.descriptor };
  }
  const chosen = selectManifest(top.parsed.index, opts.platform ?? hostPlatform());
  const child: FetchedManifest = await fetchManifest(session, ref, chosen.digest, opts.signal);
  if (child.parsed.kind !== 'manifest') {
    throw new BerthError('Unsupported', `${ref.toString()}: nested indexes are not supported`);
  }
  return {
    manifest: child.parsed.manifest,
    manifestBytes: child.bytes,
    manifestDescriptor: { ...child.descriptor, ...(chosen.platform ? { platform: chosen.platform } : {}) },
    index: { bytes: top.bytes, descriptor: top.descriptor },
  };
}

interface BlobJob {
  desc: Descriptor;
  /** Indexes of the layers this blob is (a layer may repeat); empty for the config. */
  layerIndexes: number[];
}

/**
 * Pulls `ref`: resolves it, then streams config and layers into `sink` with bounded
 * concurrency, skipping blobs the sink has, and hands layers to `onLayer` in order as
 * they land. On the first failure every other transfer is aborted before the pull
 * rejects, so nothing is written after it returns.
 */
export async function pullImage(
  session: RegistrySession,
  ref: Reference,
  sink: BlobSink,
  retry: RetryOptions,
  opts: PullOptions = {},
): Promise<PullResult> {
  const resolved = await resolveImage(session, ref, opts);
  const { manifest } = resolved;
  const abort = new AbortController();
  const onOuterAbort = () => abort.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });

  const jobs = new Map<Digest, BlobJob>();
  manifest.layers.forEach((l, i) => {
    const j = jobs.get(l.digest);
    if (j) j.layerIndexes.push(i);
    else jobs.set(l.digest, { desc: l, layerIndexes: [i] });
  });

  const progress = (desc: Descriptor) => (e: Omit<ProgressEvent, 'id' | 'digest' | 'mediaType' | 'total'>) =>
    opts.onProgress?.({ id: shortId(desc.digest), digest: desc.digest, mediaType: desc.mediaType, total: desc.size, ...e });

  // layers handed to onLayer strictly in order
  const committed = new Array<boolean>(manifest.layers.length).fill(false);
  let nextLayer = 0;
  let chain: Promise<void> = Promise.resolve();
  const handOff = () => {
    while (nextLayer < committed.length && committed[nextLayer]) {
      const i = nextLayer++;
      const layer = manifest.layers[i]!;
      if (opts.onLayer) {
        const cb = opts.onLayer;
        chain = chain.then(() => {
          if (abort.signal.aborted) return;
          return cb(layer, i);
        });
        chain.catch((e: unknown) => abort.abort(e));
      }
    }
  };

  const run = limiter(Math.max(1, opts.concurrency ?? 3));
  let firstError: unknown;
  let configBytes: Buffer | undefined;
  const configTask = (async () => {
    const emit = progress(manifest.config);
    try {
      // the config is needed as JSON even when the sink has it: it is small, fetch it again
      const present = await sink.has(manifest.config.digest);
      if (!present) emit({ state: 'waiting', current: 0 });
      configBytes = await run(async () => {
        // small enough to fetch again from the start when a transfer breaks
        for (let attempt = 0; ; attempt++) {
          try {
            return await fetchSmallBlob(session, ref, manifest.config, abort.signal);
          } catch (e) {
            if (!isRetriable(e) || attempt + 1 >= retry.attempts || abort.signal.aborted) throw e;
            await sleep(retryDelay(attempt, retry), abort.signal);
          }
        }
      });
      if (opts.onConfig) await opts.onConfig(parseConfig(configBytes, manifest.config.digest, ref));
      if (present) emit({ state: 'exists', current: manifest.config.size });
      else {
        await storeBytes(sink, manifest.config, configBytes);
        emit({ state: 'done', current: manifest.config.size });
      }
    } catch (e) {
      firstError ??= e;
      abort.abort(e);
      throw e;
    }
  })();
  const layerTasks = [...jobs.values()].map(async (job) => {
    const emit = progress(job.desc);
    try {
      if (await sink.has(job.desc.digest)) {
        emit({ state: 'exists', current: job.desc.size });
      } else {
        emit({ state: 'waiting', current: 0 });
        // the download slot is held while bytes flow, not while the sink verifies and syncs
        let transfer: Promise<void> | undefined;
        await run(
          () =>
            new Promise<void>((release) => {
              if (abort.signal.aborted) {
                transfer = Promise.reject(abort.signal.reason as Error);
                transfer.catch(() => {}); // awaited below; not unhandled meanwhile
                release();
                return;
              }
              transfer = fetchBlob(session, ref, job.desc, sink, emit, retry, {
                allowNondistributable: opts.allowNondistributable ?? true,
                signal: abort.signal,
                onReceived: release,
              });
              transfer.then(release, release);
              transfer.catch(() => {});
            }),
        );
        await transfer;
      }
      for (const i of job.layerIndexes) committed[i] = true;
      handOff();
    } catch (e) {
      firstError ??= e;
      abort.abort(e);
      throw e;
    }
  });
  const settled = await Promise.allSettled([configTask, ...layerTasks]);
  try {
    if (!firstError) await chain;
  } catch (e) {
    firstError ??= e;
  }
  opts.signal?.removeEventListener('abort', onOuterAbort);
  if (firstError !== undefined || settled.some((s) => s.status === 'rejected')) {
    throw firstError ?? (settled.find((s) => s.status === 'rejected') as PromiseRejectedResult).reason;
  }

  if (opts.storeManifests ?? true) {
    await storeBytes(sink, resolved.manifestDescriptor, resolved.manifestBytes);
    if (resolved.index) await storeBytes(sink, resolved.index.descriptor, resolved.index.bytes);
  }
  const config = parseConfig(configBytes!, manifest.config.digest, ref);
  return {
    ...resolved,
    manifestDigest: resolved.manifestDescriptor.digest,
    config,
    configDescriptor: manifest.config,
    layers: manifest.layers,
  };
}

function parseConfig(bytes: Buffer, digest: Digest, ref: Reference): unknown {
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch {
    throw new BerthError('InvalidArgument', `config ${digest} of ${ref.toString()} is not JSON`);
  }
}

async function storeBytes(sink: BlobSink, desc: Descriptor, bytes: Buffer): Promise<void> {
  if (await sink.has(desc.digest)) return;
  await sink.write(desc.digest, { digest: desc.digest, size: bytes.length }, Readable.from([bytes]));
}
