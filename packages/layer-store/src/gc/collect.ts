import { isDigest, type Digest } from '@berth/image-format';
import { FileContentStore } from '../content/file-store.js';
import type { ContentStore } from '../content/store.js';
import { TRANSIENT_LABEL } from '../snapshot/base.js';
import type { Snapshotter } from '../snapshot/snapshotter.js';
import type { LeaseManager } from './leases.js';

/** Blob labels with this prefix name other blobs the labelled blob references. */
export const GC_REF_CONTENT = 'berth.gc.ref.content';
/** Blob labels with this prefix name snapshot keys the labelled blob references. */
export const GC_REF_SNAPSHOT = 'berth.gc.ref.snapshot';

export interface GcRoots {
  /** Blobs in use (manifests and indexes of tagged images, configs...). */
  blobs?: Iterable<Digest>;
  /** Snapshot keys in use (containers' writable layers, images' top chainIDs). */
  snapshots?: Iterable<string>;
}

export interface GcResult {
  removedBlobs: Digest[];
  removedSnapshots: string[];
}

/**
 * Mark and sweep. Marked: the roots, every resource of a live lease, blobs and snapshots
 * named by the `berth.gc.ref.*` labels of marked blobs, and every parent of a marked
 * snapshot. Swept: every other blob and snapshot, children first. Snapshots an unpack is
 * filling right now (transient) are never swept.
 */
export async function collectGarbage(opts: {
  store: ContentStore;
  snapshotters: Snapshotter[];
  roots: GcRoots;
  leases?: LeaseManager;
}): Promise<GcResult> {
  opts.leases?.expire();
  const blobs = new Set<string>(opts.roots.blobs ?? []);
  const snaps = new Set<string>(opts.roots.snapshots ?? []);
  for (const lease of opts.leases?.list() ?? []) {
    for (const r of lease.resources) (r.kind === 'content' ? blobs : snaps).add(r.id);
  }
  const infos = new Map<string, Record<string, string>>();
  for await (const b of opts.store.list()) infos.set(b.digest, b.labels);
  const queue = [...blobs];
  while (queue.length) {
    const d = queue.pop()!;
    for (const [k, v] of Object.entries(infos.get(d) ?? {})) {
      if (k.startsWith(GC_REF_CONTENT) && isDigest(v) && !blobs.has(v)) {
        blobs.add(v);
        queue.push(v);
      } else if (k.startsWith(GC_REF_SNAPSHOT)) snaps.add(v);
    }
  }
  const removedSnapshots: string[] = [];
  for (const sn of opts.snapshotters) {
    const all = await sn.walk();
    const byKey = new Map(all.map((s) => [s.key, s]));
    const marked = new Set<string>();
    for (const s of all) {
      if (!snaps.has(s.key) && s.labels[TRANSIENT_LABEL] === undefined) continue;
      for (let k: string | undefined = s.key; k !== undefined && !marked.has(k); k = byKey.get(k)?.parent) marked.add(k);
    }
    // walk() lists parents before children: sweep in reverse.
    for (const s of [...all].reverse()) {
      if (marked.has(s.key)) continue;
      await sn.remove(s.key);
      removedSnapshots.push(s.key);
      // The layer record of a collected chainID goes with it.
      if (opts.store instanceof FileContentStore) opts.store.db.prepare('DELETE FROM ls_layers WHERE chain_id = ?').run(s.key);
    }
  }
  const removedBlobs: Digest[] = [];
  for (const d of infos.keys()) {
    if (blobs.has(d)) continue;
    try {
      await opts.store.delete(d as Digest);
      removedBlobs.push(d as Digest);
    } catch {
      // Deleted meanwhile.
    }
  }
  return { removedBlobs, removedSnapshots };
}
