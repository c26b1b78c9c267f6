import { lstat, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ConflictError, InvalidArgumentError, NotFoundError, UnsupportedError } from '@berth/image-format';
import { layerStoreDb, type Db } from '../db/database.js';
import { readMountInfo, unmount } from './mount.js';
import type { ApplyTarget, DiffSource, Mount, SnapshotInfo, SnapshotKind, Snapshotter, Usage } from './snapshotter.js';

export interface SnapshotterOptions {
  /** An already-open berth.db (the engine shares one); opened here when absent. */
  db?: Db;
  /** Sweep what a crash left (interrupted unpacks, orphan dirs) at open (default true). */
  recover?: boolean;
}

/** Label marking an active snapshot that only lives while a layer is unpacked into it. */
export const TRANSIENT_LABEL = 'berth.layer-store/transient';
/** Label marking a detached snapshot (filled without its parent, given one at commit). */
export const DETACHED_LABEL = 'berth.layer-store/detached';

interface Row {
  key: string;
  id: number;
  parent: string | null;
  kind: SnapshotKind;
  created_at: number;
  updated_at: number;
  labels: string;
}

/**
 * Snapshots as numbered directories under `<root>/snapshots/<name>/<id>/`, metadata in
 * ls_snapshots. Numeric ids keep overlay mount data short.
 */
export abstract class DirSnapshotter implements Snapshotter {
  abstract readonly name: string;
  readonly db: Db;
  readonly dir: string;
  private readonly ownsDb: boolean;

  protected constructor(root: string, name: string, opts: SnapshotterOptions) {
    const { db, owned } = layerStoreDb(opts.db ?? root);
    this.db = db;
    this.ownsDb = owned;
    this.dir = join(root, 'snapshots', name);
  }

  protected async init(recover: boolean): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    if (recover) await this.recover();
  }

  close(): void {
    if (this.ownsDb) this.db.close();
  }

  protected abstract populate(id: number, parentIds: number[], kind: SnapshotKind): Promise<void>;
  protected abstract mountsFor(id: number, parentIds: number[], kind: SnapshotKind): Mount[];
  protected abstract whiteoutMode(): 'overlay' | 'delete';
  protected abstract unmountOwned(id: number): Promise<void>;

  fsDir(id: number): string {
    return join(this.dir, String(id), 'fs');
  }

  private row(key: string): Row {
    const r = this.db.prepare('SELECT * FROM ls_snapshots WHERE snapshotter = ? AND key = ?').get(this.name, key) as Row | undefined;
    if (!r) throw new NotFoundError(`snapshot ${key} not found`);
    return r;
  }

  private info(r: Row): SnapshotInfo {
    return {
      key: r.key,
      ...(r.parent !== null ? { parent: r.parent } : {}),
      kind: r.kind,
      createdAt: new Date(r.created_at),
      updatedAt: new Date(r.updated_at),
      labels: JSON.parse(r.labels) as Record<string, string>,
    };
  }

  /** Ids of `key`'s parents, nearest first. */
  protected parentIds(parent: string | null): number[] {
    const ids: number[] = [];
    while (parent !== null) {
      const p = this.row(parent);
      ids.push(p.id);
      parent = p.parent;
    }
    return ids;
  }

  async stat(key: string): Promise<SnapshotInfo> {
    return this.info(this.row(key));
  }

  prepare(key: string, parent?: string, opts?: { labels?: Record<string, string> }): Promise<Mount[]> {
    return this.create('active', key, parent, opts?.labels);
  }

  view(key: string, parent?: string, opts?: { labels?: Record<string, string> }): Promise<Mount[]> {
    return this.create('view', key, parent, opts?.labels);
  }

  private async create(kind: SnapshotKind, key: string, parent: string | undefined, labels: Record<string, string> = {}): Promise<Mount[]> {
    if (!key) throw new InvalidArgumentError('snapshot key must not be empty');
    // The row goes in first: a crash before the directory exists leaves a row that
    // recover() drops; never a directory nobody knows of holding half a tree.
    const id = this.db.transaction(() => {
      if (this.db.prepare('SELECT 1 FROM ls_snapshots WHERE snapshotter = ? AND key = ?').get(this.name, key)) {
        throw new ConflictError(`snapshot ${key} already exists`);
      }
      if (parent !== undefined) {
        const p = this.row(parent);
        if (p.kind !== 'committed') throw new InvalidArgumentError(`parent ${parent} is not a committed snapshot`);
      }
      const next = (this.db.prepare('SELECT next_id FROM ls_snapshot_ids WHERE snapshotter = ?').get(this.name) as { next_id: number } | undefined)?.next_id ?? 1;
      this.db.prepare('INSERT OR REPLACE INTO ls_snapshot_ids (snapshotter, next_id) VALUES (?, ?)').run(this.name, next + 1);
      const now = Date.now();
      this.db
        .prepare('INSERT INTO ls_snapshots (snapshotter, key, id, parent, kind, created_at, updated_at, labels) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(this.name, key, next, parent ?? null, kind, now, now, JSON.stringify(labels));
      return next;
    })();
    const parentIds = this.parentIds(parent ?? null);
    try {
      await rm(join(this.dir, String(id)), { recursive: true, force: true });
      await mkdir(join(this.dir, String(id)));
      await this.populate(id, parentIds, kind);
    } catch (err) {
      this.db.prepare('DELETE FROM ls_snapshots WHERE snapshotter = ? AND key = ?').run(this.name, key);
      await rm(join(this.dir, String(id)), { recursive: true, force: true });
      throw err;
    }
    return this.mountsFor(id, parentIds, kind);
  }

  /** Whether layers can be applied without their parent (see `prepareDetached`). */
  get supportsDetached(): boolean {
    return this.whiteoutMode() === 'overlay';
  }

  /**
   * An active, parentless, transient snapshot to apply one layer into before its parent
   * exists; `commitDetached` gives it its parent. Only where a layer's own directory does
   * not depend on the tree below it (overlay: whiteouts are stored, not applied).
   * Never mounted, so nothing in it refers to a lower. A crash leaves it to `recover()`.
   */
  async prepareDetached(key: string, opts?: { labels?: Record<string, string> }): Promise<ApplyTarget> {
    if (!this.supportsDetached) throw new UnsupportedError(`the ${this.name} snapshotter applies layers onto their parents' trees`);
    await this.create('active', key, undefined, { ...opts?.labels, [TRANSIENT_LABEL]: String(process.pid), [DETACHED_LABEL]: 'true' });
    return this.applyTarget(key);
  }

  /**
   * Commits a detached snapshot as `name` on top of the committed `parent` (none: a
   * bottom layer). ConflictError when `name` exists (the detached one is left as is).
   */
  async commitDetached(name: string, key: string, parent: string | undefined, opts?: { labels?: Record<string, string> }): Promise<void> {
    this.db.transaction(() => {
      const r = this.row(key);
      const labels = { ...(JSON.parse(r.labels) as Record<string, string>), ...opts?.labels };
      if (r.kind !== 'active' || labels[DETACHED_LABEL] === undefined) throw new InvalidArgumentError(`snapshot ${key} is not a detached snapshot`);
      if (this.db.prepare('SELECT 1 FROM ls_snapshots WHERE snapshotter = ? AND key = ?').get(this.name, name)) {
        throw new ConflictError(`snapshot ${name} already exists`);
      }
      if (parent !== undefined && this.row(parent).kind !== 'committed') throw new InvalidArgumentError(`parent ${parent} is not a committed snapshot`);
      delete labels[TRANSIENT_LABEL];
      delete labels[DETACHED_LABEL];
      this.db
        .prepare("UPDATE ls_snapshots SET key = ?, parent = ?, kind = 'committed', updated_at = ?, labels = ? WHERE snapshotter = ? AND key = ?")
        .run(name, parent ?? null, Date.now(), JSON.stringify(labels), this.name, key);
    })();
  }

  async mounts(key: string): Promise<Mount[]> {
    const r = this.row(key);
    return this.mountsFor(r.id, this.parentIds(r.parent), r.kind);
  }

  async commit(name: string, key: string, opts?: { labels?: Record<string, string> }): Promise<void> {
    this.db.transaction(() => {
      const r = this.row(key);
      if (r.kind !== 'active') throw new InvalidArgumentError(`snapshot ${key} is ${r.kind}, not active`);
      if (this.db.prepare('SELECT 1 FROM ls_snapshots WHERE snapshotter = ? AND key = ?').get(this.name, name)) {
        throw new ConflictError(`snapshot ${name} already exists`);
      }
      const labels = { ...(JSON.parse(r.labels) as Record<string, string>), ...opts?.labels };
      delete labels[TRANSIENT_LABEL];
      this.db
        .prepare("UPDATE ls_snapshots SET key = ?, kind = 'committed', updated_at = ?, labels = ? WHERE snapshotter = ? AND key = ?")
        .run(name, Date.now(), JSON.stringify(labels), this.name, key);
    })();
  }

  async remove(key: string): Promise<void> {
    const r = this.db.transaction(() => {
      const row = this.row(key);
      const child = this.db.prepare('SELECT key FROM ls_snapshots WHERE snapshotter = ? AND parent = ? LIMIT 1').get(this.name, key) as { key: string } | undefined;
      if (child) throw new ConflictError(`snapshot ${key} has a child ${child.key}`);
      this.db.prepare('DELETE FROM ls_snapshots WHERE snapshotter = ? AND key = ?').run(this.name, key);
      return row;
    })();
    // The row is gone first: a crash now leaves an orphan directory for recover(),
    // never a snapshot whose tree is half deleted.
    await this.unmountOwned(r.id);
    await rm(join(this.dir, String(r.id)), { recursive: true, force: true });
  }

  async walk(): Promise<SnapshotInfo[]> {
    const rows = this.db.prepare('SELECT * FROM ls_snapshots WHERE snapshotter = ? ORDER BY id').all(this.name) as Row[];
    return rows.map((r) => this.info(r));
  }

  async usage(key: string): Promise<Usage> {
    const r = this.row(key);
    return diskUsage(this.fsDir(r.id));
  }

  async applyTarget(key: string): Promise<ApplyTarget> {
    const r = this.row(key);
    if (r.kind !== 'active') throw new InvalidArgumentError(`snapshot ${key} is ${r.kind}, not active`);
    return { dir: this.fsDir(r.id), whiteouts: this.whiteoutMode() };
  }

  async diffSource(key: string): Promise<DiffSource> {
    const r = this.row(key);
    if (this.whiteoutMode() === 'overlay') return { kind: 'overlay-upper', upper: this.fsDir(r.id) };
    const parent = r.parent === null ? undefined : this.row(r.parent);
    return { kind: 'trees', upper: this.fsDir(r.id), ...(parent ? { lower: this.fsDir(parent.id) } : {}) };
  }

  /**
   * Drops what a crash left: transient (unpack) snapshots, rows whose directory is gone,
   * directories with no row — unmounting anything still mounted from them.
   */
  async recover(): Promise<void> {
    const rows = this.db.prepare('SELECT * FROM ls_snapshots WHERE snapshotter = ? ORDER BY id DESC').all(this.name) as Row[];
    for (const r of rows) {
      const transient = (JSON.parse(r.labels) as Record<string, string>)[TRANSIENT_LABEL] !== undefined;
      const exists = await lstat(join(this.dir, String(r.id))).then(() => true, () => false);
      if (transient || !exists) {
        const hasChild = this.db.prepare('SELECT 1 FROM ls_snapshots WHERE snapshotter = ? AND parent = ?').get(this.name, r.key);
        if (!hasChild) await this.remove(r.key);
      }
    }
    const known = new Set((this.db.prepare('SELECT id FROM ls_snapshots WHERE snapshotter = ?').all(this.name) as { id: number }[]).map((r) => String(r.id)));
    for (const name of await readdir(this.dir)) {
      if (!/^\d+$/.test(name) || known.has(name)) continue;
      await this.unmountOwned(Number(name));
      await rm(join(this.dir, name), { recursive: true, force: true });
    }
  }

  /** Unmounts every mount point in this namespace that satisfies `match`, deepest first. */
  protected async unmountWhere(match: (m: Awaited<ReturnType<typeof readMountInfo>>[number]) => boolean | Promise<boolean>): Promise<void> {
    const all = await readMountInfo();
    const hits: string[] = [];
    for (const m of all) if (await match(m)) hits.push(m.mountPoint);
    for (const p of hits.sort((a, b) => b.length - a.length)) await unmount(p);
  }
}

/** Disk usage of a tree: allocated bytes and inodes, hardlinks counted once. */
export async function diskUsage(dir: string): Promise<Usage> {
  const seen = new Set<string>();
  let size = 0;
  let inodes = 0;
  const walk = async (p: string) => {
    const st = await lstat(p);
    const id = `${st.dev}:${st.ino}`;
    if (!seen.has(id)) {
      seen.add(id);
      inodes++;
      size += st.blocks * 512;
    }
    if (st.isDirectory()) for (const c of await readdir(p)) await walk(join(p, c));
  };
  await walk(dir).catch((err) => {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  });
  return { size, inodes };
}
