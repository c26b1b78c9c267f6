import { createHash, randomBytes } from 'node:crypto';
import { Readable, Transform, pipeline as pipelineCb } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { MediaType, type Descriptor, type Digest } from '@berth/image-format';
import { overlayChanges, tarStream, treeChanges, type LayerEntry } from '../archive/diff.js';
import { BlobExistsError, type ContentStore } from '../content/store.js';
import type { DiffSource, Snapshotter } from '../snapshot/snapshotter.js';

export interface DiffOptions {
  compression?: 'gzip' | 'none';
  /** Ingest ref for the layer blob (default: a random one). */
  ref?: string;
  labels?: Record<string, string>;
  /**
   * Paths (relative, `etc/hosts`) left out of the layer, with the directories that are in
   * the change set only because of them: a runtime's mount points (Docker keeps these in an
   * init layer below the container's, so its commits never carry them).
   */
  exclude?: readonly string[];
  /**
   * Seconds since 1970: later modification times are written as this one (SOURCE_DATE_EPOCH,
   * so a rebuild gives the same bytes).
   */
  clampMtime?: number;
}

export interface DiffResult {
  descriptor: Descriptor;
  diffId: Digest;
}

/** Label set on a layer blob with its uncompressed digest. */
export const UNCOMPRESSED_LABEL = 'berth.layer-store/uncompressed';

/**
 * Turns the changes of snapshot `key` against its parent into an OCI layer written
 * straight into the content store: an overlay upper dir is read as is, a native snapshot
 * is compared with its parent's tree. Entries are sorted and metadata is taken from
 * disk only, so the same tree gives the same bytes and digests. The tar is hashed
 * (diffID) and the compressed stream hashed (digest) as they flow; nothing is buffered.
 */
export async function createDiff(store: ContentStore, snapshotter: Snapshotter, key: string, opts: DiffOptions = {}): Promise<DiffResult> {
  const source = await snapshotter.diffSource(key);
  const tarHash = createHash('sha256');
  const tar = source.kind === 'layer-tar' ? hashed(source.tar(), tarHash) : Readable.from(tarStream(await entryList(source, opts), tarHash), { objectMode: false, highWaterMark: 1 << 20 });
  const gzip = opts.compression !== 'none';
  const writer = await store.writer(opts.ref ?? `diff-${randomBytes(8).toString('hex')}`);
  let digest: Digest;
  let size: number;
  try {
    if (gzip) {
      const gz = createGzip({ chunkSize: 256 * 1024 });
      const piping = pipeline(tar, gz);
      await Promise.all([writer.append(gz), piping]);
    } else {
      await writer.append(tar);
    }
    size = writer.written;
  } catch (err) {
    await writer.abort();
    throw err;
  }
  const diffId: Digest = `sha256:${tarHash.digest('hex')}`;
  const labels = { [UNCOMPRESSED_LABEL]: diffId, ...opts.labels };
  try {
    digest = await writer.commit(undefined, undefined, labels);
  } catch (err) {
    if (!(err instanceof BlobExistsError)) throw err;
    digest = err.digest;
    await store.setLabels(digest, labels);
  }
  return {
    descriptor: { mediaType: gzip ? MediaType.OciLayerGzip : MediaType.OciLayer, digest, size },
    diffId,
  };
}

/** The changes of an overlay upper dir or two trees, as tar entries (excluded paths out, times clamped). */
async function entryList(source: Exclude<DiffSource, { kind: 'layer-tar' }>, opts: DiffOptions): Promise<LayerEntry[]> {
  const all = source.kind === 'overlay-upper' ? await overlayChanges(source.upper) : await treeChanges(source.lower, source.upper);
  const kept = opts.exclude?.length ? withoutPaths(all, opts.exclude) : all;
  const clamp = opts.clampMtime;
  return clamp === undefined ? kept : kept.map((e) => (e.header.mtime > clamp ? { ...e, header: { ...e.header, mtime: clamp } } : e));
}

/**
 * A layer tar the snapshotter wrote (its own format: paths are its platform's, so the
 * engine's excludes and clamps do not apply), hashed as it flows for the diffID.
 */
function hashed(tar: Readable, hash: ReturnType<typeof createHash>): Readable {
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  // the source's error ends the hashed stream with it (so the diff fails, never stores a short layer)
  pipelineCb(tar, t, () => undefined);
  return t;
}

/**
 * `entries` without the excluded paths, and without a directory entry that is an ancestor of
 * one of them and has nothing else below it in the change set. (Such a directory's own
 * metadata change, if any, is lost: it is the mount points' parent, /etc.)
 */
function withoutPaths<T extends { header: { name: string; type: string } }>(entries: T[], exclude: readonly string[]): T[] {
  const norm = (n: string): string => n.replace(/^\.?\/+/, '').replace(/\/+$/, '');
  const excluded = new Set(exclude.map(norm));
  const kept = entries.filter((e) => !excluded.has(norm(e.header.name)));
  const ancestors = new Set<string>();
  for (const p of excluded) {
    for (let i = p.indexOf('/'); i > 0; i = p.indexOf('/', i + 1)) ancestors.add(p.slice(0, i));
  }
  return kept.filter((e) => {
    const name = norm(e.header.name);
    if (e.header.type !== 'dir' || !ancestors.has(name)) return true;
    return kept.some((o) => norm(o.header.name).startsWith(name + '/'));
  });
}
