import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  InvalidArgumentError,
  MediaType,
  chainIds,
  extractDockerArchive,
  extractOciLayout,
  normalizeReference,
  type Descriptor,
  type Digest,
  type OciLayout,
} from '@berth/image-format';
import type { ProgressMessage } from '../docker-types.js';
import type { EventBus } from '../events.js';
import type { ContentStore } from '@berth/layer-store';
import { layerMessage } from './progress.js';
import { refKey, type ImageRecord, type ImageTable } from './table.js';

/** What `docker load` needs from the image service. */
export interface LoadContext {
  root: string;
  content: ContentStore;
  table: ImageTable;
  events: EventBus;
  register(args: { configBytes: Buffer; layers: Descriptor[]; diffIds: Digest[]; sources: (Descriptor | undefined)[] }): Promise<ImageRecord>;
  setTag(ref: string, imageId: string): void;
  importFromLayout(layout: OciLayout, entryRef: string): Promise<ImageRecord>;
  ingestUnknown(data: Readable): Promise<Digest>;
  snapshotExists(chainId: Digest): Promise<boolean>;
  /** Throws when the host cannot run an image of this config's OS (before its layers are read). */
  checkOs?(configBytes: Buffer): void;
}

export interface LoadOptions {
  /** Leave out the `Loading layer` progress (the API's `quiet`, which Docker defaults to true). */
  quiet?: boolean;
  /** Every message of Docker's load stream, in order: progress and `{stream: ...}` lines. */
  onMessage?: (msg: ProgressMessage) => void;
}

/** Progress at most this often while a layer is read (Docker's progress reader is similar). */
const PROGRESS_INTERVAL_MS = 100;

/**
 * `docker load` of a docker-archive (any `docker save` form) or an OCI layout tar.
 * Resolves with the text lines of the stream (`Loaded image: x`, `Loaded image ID: y`, and
 * the rename notices), which is also what `onMessage` sees as `{stream}` messages.
 */
export async function loadArchive(ctx: LoadContext, archive: Readable, opts: LoadOptions = {}): Promise<string[]> {
  const lines: string[] = [];
  const say = (text: string): void => {
    lines.push(...text.split('\n').filter((l) => l !== ''));
    opts.onMessage?.({ stream: text });
  };
  const dir = await mkdtemp(join(ctx.root, 'tmp-load-'));
  try {
    // Written to disk once, so the OCI layout form can be tried on the same bytes.
    const tarPath = join(dir, 'archive.tar');
    await pipeline(archive, createWriteStream(tarPath));
    let untagged = '';
    let tagged = 0;
    let archiveForm = true;
    let images: Awaited<ReturnType<typeof extractDockerArchive>>['images'] = [];
    try {
      images = (await extractDockerArchive(createReadStream(tarPath), join(dir, 'x'))).images;
    } catch (err) {
      if (!(err instanceof InvalidArgumentError) || !/manifest\.json/.test(err.message)) throw err;
      archiveForm = false;
    }
    if (archiveForm) {
      for (const img of images) {
        ctx.checkOs?.(img.configBytes);
        const layers: Descriptor[] = [];
        const diffIds = img.layers.map((l) => l.diffId);
        const chains = chainIds(diffIds);
        for (const [i, l] of img.layers.entries()) {
          const { size } = await stat(l.path);
          const known = await ctx.snapshotExists(chains[i]!);
          const progress = known || opts.quiet ? undefined : progressTap(chains[i]!, size, opts.onMessage);
          const open = (): Readable => (progress ? createReadStream(l.path).pipe(progress) : createReadStream(l.path));
          let digest: Digest;
          if (l.compression === 'none') {
            digest = l.diffId;
            if (!(await ctx.content.has(digest))) await ctx.content.ingest(`load-${digest}`, { digest, size }, open());
          } else {
            digest = await ctx.ingestUnknown(open());
          }
          progress?.finish();
          layers.push({ mediaType: l.compression === 'gzip' ? MediaType.OciLayerGzip : MediaType.OciLayer, digest, size });
        }
        const rec = await ctx.register({ configBytes: img.configBytes, layers, diffIds, sources: img.layers.map((l) => l.source) });
        ctx.events.emit('image', 'load', rec.id, { name: rec.id });
        for (const t of img.repoTags) {
          tagMoved(ctx, t, rec.id, say);
          ctx.setTag(t, rec.id);
          say(`Loaded image: ${normalizeReference(t).familiar()}\n`);
          tagged++;
        }
        untagged += `Loaded image ID: ${rec.id}\n`;
      }
    } else {
      const layout = await extractOciLayout(createReadStream(tarPath), join(dir, 'oci'));
      for (const e of layout.list()) {
        const rec = await ctx.importFromLayout(layout, e.descriptor.digest);
        ctx.events.emit('image', 'load', rec.id, { name: rec.id });
        if (e.imageName) {
          tagMoved(ctx, e.imageName, rec.id, say);
          ctx.setTag(e.imageName, rec.id);
          say(`Loaded image: ${normalizeReference(e.imageName).familiar()}\n`);
          tagged++;
        }
        untagged += `Loaded image ID: ${rec.id}\n`;
      }
    }
    // As Docker 20.10: the IDs are reported only when no image of the archive had a tag,
    // all in one message.
    if (tagged === 0 && untagged !== '') say(untagged);
    return lines;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Docker's notice when a loaded tag takes the name from another image. */
function tagMoved(ctx: LoadContext, ref: string, imageId: string, say: (text: string) => void): void {
  const prev = ctx.table.byRef(refKey(ref));
  if (prev && prev !== imageId) {
    say(`The image ${normalizeReference(ref).familiar()} already exists, renaming the old one with ID ${prev} to empty string\n`);
  }
}

/** Passes a layer's bytes through, reporting Docker's `Loading layer` progress (ID: the short chain ID). */
function progressTap(chainId: Digest, total: number, onMessage: LoadOptions['onMessage']): Transform & { finish(): void } {
  const id = chainId.replace(/^sha256:/, '').slice(0, 12);
  let current = 0;
  let last = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      current += chunk.length;
      const now = Date.now();
      if (now - last >= PROGRESS_INTERVAL_MS && current < total) {
        last = now;
        onMessage?.(layerMessage('Loading layer', id, current, total));
      }
      cb(null, chunk);
    },
  });
  return Object.assign(tap, { finish: () => onMessage?.(layerMessage('Loading layer', id, total, total)) });
}
