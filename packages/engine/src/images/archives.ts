import { spawn } from 'node:child_process';
import { PassThrough, Transform, pipeline as pipelineCb, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import {
  MediaType,
  canonicalJson,
  hostPlatform,
  layerCompression,
  normalizeReference,
  parsePlatform,
  readOciLayout,
  writeDockerArchive,
  type Descriptor,
  type Digest,
  type ImageConfig,
} from '@berth/image-format';
import type { ImageInspect } from '../docker-types.js';
import type { ImportOptions } from '../services.js';
import { ENGINE_VERSION } from '../system.js';
import { applyChanges } from './changes.js';
import type { ImageDeps } from './deps.js';
import { checkImportOs, checkLoadedOs } from './host-os.js';
import { loadArchive, type LoadOptions } from './load.js';
import type { ImageRecords } from './records.js';
import type { ImageRecord, LayerRecord } from './table.js';

/** docker save / load / import, and OCI layouts: images in and out as tar streams. */
export class ImageArchives {
  constructor(
    private readonly deps: ImageDeps,
    private readonly records: ImageRecords,
  ) {}

  save(refs: string[]): Readable {
    const out = new PassThrough();
    void (async () => {
      const sources = refs.map((r) => {
        const rec = this.deps.table.resolve(r);
        let repoTags: string[];
        try {
          const ref = normalizeReference(r);
          repoTags = this.deps.table.byRef(ref.toString()) === rec.id && ref.tag ? [ref.familiar()] : [];
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
        if (learnt) this.deps.table.updateLayers(rec.id, rec.layers);
        images.push({ config: Buffer.from(rec.configBytes), layers, repoTags });
      }
      for (const { rec } of sources) this.deps.events.emit('image', 'save', rec.id, { name: rec.id });
      await writeDockerArchive(out, images);
    })().catch((err: unknown) => out.destroy(err as Error));
    return out;
  }

  private async openUncompressed(l: LayerRecord): Promise<Readable> {
    const raw = await this.deps.storage.content.read(l.digest as Digest);
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
        root: this.deps.root,
        content: this.deps.storage.content,
        table: this.deps.table,
        events: this.deps.events,
        register: (args) => this.records.register(args),
        setTag: (ref, id) => this.records.setTag(ref, id),
        importFromLayout: (layout, entry) => this.records.importFromLayout(layout, entry),
        ingestUnknown: (data) => this.records.ingestUnknown(data),
        snapshotExists: (chainId) => this.records.snapshotExists(chainId),
        checkOs: (configBytes) => checkLoadedOs(this.deps.hostOs, configBytes),
      },
      archive,
      opts,
    );
  }

  async loadLayout(dir: string, ref?: string): Promise<ImageInspect> {
    const layout = await readOciLayout(dir);
    const entries = layout.list();
    const entry = ref ? entries.find((e) => e.refName === ref || e.imageName === ref) : entries[0];
    const rec = await this.records.importFromLayout(layout, entry ? (entry.refName ?? entry.descriptor.digest) : ref);
    const name = ref && !entry ? ref : entry?.imageName ?? (entry?.refName && !/^[\w][\w.-]*$/.test(entry.refName) ? entry.refName : undefined);
    const tagAs = ref ?? name;
    if (tagAs) {
      try {
        this.records.setTag(tagAs, rec.id);
      } catch {
        // a bare ref name like `latest` is not an image name: leave the image untagged
      }
    }
    this.deps.events.emit('image', 'load', rec.id, { name: rec.id });
    return this.records.inspect(rec.id);
  }

  async importRootfs(tar: Readable, opts: ImportOptions = {}): Promise<string> {
    if (opts.platform) checkImportOs(this.deps.hostOs, parsePlatform(opts.platform).os);
    const peek = new PeekCompression();
    // pipeline, not pipe: a client gone mid-upload must fail the ingest (and close its file), not stall it
    pipelineCb(tar, peek, () => undefined);
    const digest = await this.records.ingestUnknown(peek);
    const mediaType = peek.kind === 'gzip' ? MediaType.OciLayerGzip : peek.kind === 'zstd' ? MediaType.OciLayerZstd : MediaType.OciLayer;
    const size = (await this.deps.storage.content.info(digest)).size;
    const layer: Descriptor = { mediaType, digest, size };
    const applied = await this.records.unpacker.apply(layer, undefined, undefined);
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
    const rec = await this.records.register({ configBytes: Buffer.from(canonicalJson(config)), layers: [layer], diffIds: [applied.diffId] });
    if (opts.ref) this.records.setTag(opts.ref, rec.id);
    this.deps.events.emit('image', 'import', rec.id, { name: rec.id });
    return rec.id;
  }
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

