import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  BerthError,
  InvalidArgumentError,
  NotFoundError,
  canonicalJson,
  normalizeReference,
  readOciLayout,
  type Descriptor,
  type Digest,
  type ImageConfig,
} from '@berth/image-format';
import type { ContainerConfig, Filters, ImageDeleteItem, ImageHistoryItem, ImageInspect, ImageSummary } from '../docker-types.js';
import { FilterSet } from '../filters.js';
import type { CommitOptions, ImageService, ImportOptions, PackedImage, PullOptions, PushOptions } from '../services.js';
import type { ImageConfigLike } from '../container-config.js';
import type { ResolvedImage, ImageLookup } from '../containers/service.js';
import { ImageArchives } from './archives.js';
import { commitImageConfig } from './commit.js';
import { ENGINE_VERSION } from '../system.js';
import type { ImageDeps } from './deps.js';
import { familiarName, imageHistory, liveParent, repoDigests } from './describe.js';
import type { LoadOptions } from './load.js';
import { ImagePuller } from './pull.js';
import { ImagePusher } from './push.js';
import { ImageRecords } from './records.js';
import { ImageRemoval } from './removal.js';

export type { CommitSource, ContainerUse, ImageDeps } from './deps.js';

/** The engine's ImageService: lookups and listings here, each operation in its own module. */
export class Images implements ImageService, ImageLookup {
  private readonly records: ImageRecords;
  private readonly puller: ImagePuller;
  private readonly pusher: ImagePusher;
  private readonly removal: ImageRemoval;
  private readonly archives: ImageArchives;

  constructor(private readonly deps: ImageDeps) {
    this.records = new ImageRecords(deps);
    this.puller = new ImagePuller(deps, this.records);
    this.pusher = new ImagePusher(deps, this.records);
    this.removal = new ImageRemoval(deps);
    this.archives = new ImageArchives(deps, this.records);
  }

  resolve(ref: string): ResolvedImage {
    const r = this.deps.table.resolve(ref);
    return { id: r.id, config: JSON.parse(r.configBytes) as ImageConfigLike, chainId: r.chainId ?? undefined };
  }

  displayName(ref: string, imageId: string): string {
    try {
      if (this.deps.table.resolve(ref).id === imageId) return ref;
    } catch {
      // the reference moved or went away: show the ID as Docker does
    }
    return imageId;
  }

  pull(refInput: string, opts: PullOptions = {}): Promise<ImageInspect> {
    return this.puller.pull(refInput, opts);
  }

  push(refInput: string, opts: PushOptions = {}): Promise<{ digest: string; size: number; tag: string }> {
    return this.pusher.push(refInput, opts);
  }

  async tag(source: string, target: string): Promise<void> {
    const rec = this.deps.table.resolve(source);
    const ref = normalizeReference(target);
    if (ref.digest) throw new InvalidArgumentError('refusing to create a tag with a digest reference');
    if (/^[0-9a-f]{64}$/.test(ref.path)) throw new InvalidArgumentError('refusing to create an ambiguous tag using digest algorithm as name');
    this.records.setTag(target, rec.id);
  }

  remove(refInput: string, opts: { force?: boolean; noprune?: boolean } = {}): Promise<ImageDeleteItem[]> {
    return this.removal.remove(refInput, opts);
  }

  prune(opts: { filters?: Filters } = {}): Promise<{ ImagesDeleted: ImageDeleteItem[]; SpaceReclaimed: number }> {
    return this.removal.prune(opts);
  }

  async list(opts: { all?: boolean; filters?: Filters; digests?: boolean } = {}): Promise<ImageSummary[]> {
    const f = new FilterSet(opts.filters, ['dangling', 'label', 'before', 'since', 'reference', 'until']);
    const dangling = f.bool('dangling');
    const before = f.get('before').map((r) => this.deps.table.resolve(r).createdAt);
    const since = f.get('since').map((r) => this.deps.table.resolve(r).createdAt);
    const out: ImageSummary[] = [];
    for (const rec of this.deps.table.all()) {
      const refs = this.deps.table.refsOf(rec.id);
      const tags = refs.filter((r) => r.kind === 'tag').map((r) => familiarName(r.ref));
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
        ParentId: liveParent(this.deps.table, rec) ?? '',
        RepoTags: tags,
        RepoDigests: repoDigests(this.deps.table, rec),
        Created: Math.floor(rec.createdAt / 1000),
        Size: rec.size,
        SharedSize: -1,
        Labels: labels,
        Containers: this.deps.usedBy(rec.id).length,
      });
    }
    return out;
  }

  async inspect(refInput: string): Promise<ImageInspect> {
    return this.records.inspect(refInput);
  }

  async packed(refInput: string): Promise<PackedImage> {
    const r = this.deps.table.resolve(refInput);
    const manifestSize = r.manifestDigest ? await this.deps.storage.content.info(r.manifestDigest as Digest).then((i) => i.size, () => 0) : 0;
    const size = (r.indexSize ?? 0) + manifestSize + Buffer.byteLength(r.configBytes) + r.layers.reduce((n, l) => n + l.size, 0);
    return { id: r.id, configBytes: r.configBytes, chainId: r.chainId, size };
  }

  async history(refInput: string): Promise<ImageHistoryItem[]> {
    return imageHistory(this.deps.table, this.deps.table.resolve(refInput));
  }

  save(refs: string[]): Readable {
    return this.archives.save(refs);
  }

  load(archive: Readable, opts: LoadOptions = {}): Promise<string[]> {
    return this.archives.load(archive, opts);
  }

  loadLayout(dir: string, ref?: string): Promise<ImageInspect> {
    return this.archives.loadLayout(dir, ref);
  }

  importRootfs(tar: Readable, opts: ImportOptions = {}): Promise<string> {
    return this.archives.importRootfs(tar, opts);
  }

  async commit(container: string, opts: CommitOptions = {}): Promise<{ Id: string }> {
    const src = this.deps.commitSource(container);
    // dockerd on Windows: its filter holds a running container's scratch
    if (src.live && this.deps.storage.snapshotter.readsRunningChanges === false) throw new BerthError('Internal', `${this.deps.hostOs?.os ?? 'this host'} does not support commit of a running container`);
    const base = this.deps.table.get(src.imageId);
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
    const rec = await this.records.register({
      configBytes: Buffer.from(canonicalJson(config)),
      layers: emptyLayer ? baseLayers : [...baseLayers, layer],
      diffIds: emptyLayer ? baseDiffIds : [...baseDiffIds, diffId],
      parent: base.id,
    });
    if (opts.repo) this.records.setTag(opts.tag ? `${opts.repo}:${opts.tag}` : opts.repo, rec.id);
    this.deps.events.emit('image', 'commit', rec.id, { name: rec.id, container: src.id });
    return { Id: rec.id };
  }

  /** The writable snapshot's changes as a gzip layer in the content store. */
  private async diffSnapshot(key: string): Promise<{ layer: Descriptor; diffId: Digest }> {
    const res = await this.deps.storage.diff(key);
    return { layer: res.descriptor, diffId: res.diffId };
  }

  async ensureBuiltin(name: 'busybox'): Promise<ImageInspect> {
    if (name !== 'busybox') throw new NotFoundError(`No such built-in image: ${name}`);
    const existing = this.records.safeResolve('busybox:latest');
    if (existing) return this.records.inspect(existing.id);
    const dir = await mkdtemp(join(tmpdir(), 'berth-busybox-'));
    try {
      const refName = await this.deps.buildBusybox(dir);
      const layout = await readOciLayout(dir);
      const rec = await this.records.importFromLayout(layout, refName);
      this.records.setTag('busybox:latest', rec.id);
      return this.records.inspect(rec.id);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** For /system/df and info. */
  count(): number {
    return this.deps.table.all().length;
  }
}

function matchRef(pattern: string, familiar: string): boolean {
  const re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '.') + '$');
  return re.test(familiar) || re.test(familiar.replace(/:[^:/]+$/, ''));
}
