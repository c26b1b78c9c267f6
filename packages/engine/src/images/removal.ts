import { ConflictError, chainIds, normalizeReference, type Digest, type ImageConfig } from '@berth/image-format';
import type { Filters, ImageDeleteItem } from '../docker-types.js';
import { FilterSet } from '../filters.js';
import type { ImageDeps } from './deps.js';
import { familiarName } from './describe.js';
import { refKey, type ImageRecord } from './table.js';

/**
 * docker rmi and image prune with Docker's conflict rules; an image's snapshots and blobs
 * go when no other image shares them (by reference from the image table).
 */
export class ImageRemoval {
  constructor(private readonly deps: ImageDeps) {}

  async remove(refInput: string, opts: { force?: boolean; noprune?: boolean } = {}): Promise<ImageDeleteItem[]> {
    const rec = this.deps.table.resolve(refInput);
    const out: ImageDeleteItem[] = [];
    const users = this.deps.usedBy(rec.id);
    const short = rec.id.slice(7, 19);
    const byId = /^(sha256:)?[0-9a-f]{1,64}$/.test(refInput) && !this.refMatches(refInput, rec.id);
    const tags = this.deps.table.refsOf(rec.id);
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
      this.deps.table.deleteRef(key);
      out.push({ Untagged: normalizeReference(refInput).familiar() });
      this.deps.events.emit('image', 'untag', rec.id, { name: normalizeReference(refInput).familiar() });
      if (!isLast || users.length > 0 || this.deps.table.childrenOf(rec.id).length > 0) return out;
      for (const t of this.deps.table.refsOf(rec.id)) {
        this.deps.table.deleteRef(t.ref);
        out.push({ Untagged: familiarName(t.ref) });
      }
    } else {
      if (this.deps.table.childrenOf(rec.id).length > 0) {
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
        this.deps.table.deleteRef(t.ref);
        out.push({ Untagged: familiarName(t.ref) });
        if (t.kind === 'tag') this.deps.events.emit('image', 'untag', rec.id, { name: familiarName(t.ref) });
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
    let parent = rec.parent ? this.deps.table.get(rec.parent) : undefined;
    while (parent) {
      if (this.deps.table.refsOf(parent.id).some((r) => r.kind === 'tag')) break;
      if (this.deps.usedBy(parent.id).length > 0 || this.deps.table.childrenOf(parent.id).length > 0) break;
      for (const t of this.deps.table.refsOf(parent.id)) {
        this.deps.table.deleteRef(t.ref);
        out.push({ Untagged: familiarName(t.ref) });
      }
      out.push(...(await this.deleteImage(parent)));
      parent = parent.parent ? this.deps.table.get(parent.parent) : undefined;
    }
    return out;
  }

  private refMatches(input: string, id: string): boolean {
    try {
      return this.deps.table.byRef(refKey(input)) === id;
    } catch {
      return false;
    }
  }

  /** Deletes the record, its unshared snapshots (top down) and unshared blobs. */
  private async deleteImage(rec: ImageRecord): Promise<ImageDeleteItem[]> {
    this.deps.table.delete(rec.id);
    this.deps.events.emit('image', 'delete', rec.id, { name: rec.id });
    const others = this.deps.table.all();
    const liveBlobs = new Set<string>();
    const liveChains = new Set<string>();
    for (const o of others) {
      liveBlobs.add(o.id);
      if (o.manifestDigest) liveBlobs.add(o.manifestDigest);
      for (const l of o.layers) liveBlobs.add(l.digest);
      for (const c of chainIds(o.layers.map((l) => l.diffId as Digest))) liveChains.add(c);
    }
    const chain = chainIds(rec.layers.map((l) => l.diffId as Digest));
    let settled = false;
    for (const c of [...chain].reverse()) {
      if (liveChains.has(c)) break;
      // A removed container's rootfs may still be being released on top of this snapshot:
      // waited for only when a snapshot goes (a build's step image shares all of its own).
      if (!settled) await this.deps.released?.();
      settled = true;
      try {
        await this.deps.storage.snapshotter.remove(c);
      } catch {
        break; // a container's snapshot (or another image) still builds on it
      }
    }
    const content = this.deps.storage.content;
    for (const d of [rec.id, rec.manifestDigest, ...rec.layers.map((l) => l.digest)]) {
      if (d && !liveBlobs.has(d)) await content.delete(d as Digest).catch(() => undefined);
    }
    return [{ Deleted: rec.id }];
  }

  async prune(opts: { filters?: Filters } = {}): Promise<{ ImagesDeleted: ImageDeleteItem[]; SpaceReclaimed: number }> {
    const f = new FilterSet(opts.filters, ['dangling', 'label', 'until']);
    await this.deps.released?.();
    const danglingOnly = f.bool('dangling') ?? true;
    const deleted: ImageDeleteItem[] = [];
    let space = 0;
    for (const rec of this.deps.table.all()) {
      if (this.deps.usedBy(rec.id).length > 0) continue;
      const tags = this.deps.table.refsOf(rec.id).filter((r) => r.kind === 'tag');
      if (danglingOnly && tags.length > 0) continue;
      // An image others were committed from stays (Docker's conflict), and one that went
      // with its child below is gone.
      if (this.deps.table.childrenOf(rec.id).length > 0 || !this.deps.table.get(rec.id)) continue;
      const labels = ((JSON.parse(rec.configBytes) as ImageConfig).config?.Labels ?? {}) as Record<string, string>;
      if (!f.matchLabels('label', labels)) continue;
      for (const t of this.deps.table.refsOf(rec.id)) {
        this.deps.table.deleteRef(t.ref);
        deleted.push({ Untagged: familiarName(t.ref) });
      }
      space += rec.size;
      deleted.push(...(await this.deleteImage(rec)));
      deleted.push(...(await this.pruneParents(rec)));
    }
    this.deps.events.emit('image', 'prune', '', { reclaimed: String(space) });
    return { ImagesDeleted: deleted, SpaceReclaimed: space };
  }
}
