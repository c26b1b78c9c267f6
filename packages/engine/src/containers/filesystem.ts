import { mkdtemp, readdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { BerthError, NotFoundError } from '@berth/image-format';
import { exportTar, mountAll, unmount } from '@berth/layer-store';
import { copyTree } from '../fsutil.js';
import { newId } from '../names.js';
import type { ArchivePathStat } from '../services.js';
import { archiveOf, statPath, type RootMount } from './archive.js';
import { extractToDir } from './archive-extract.js';
import { overlayChanges, treeChanges } from './changes.js';
import { isRunning, type ContainerContext } from './context.js';
import { runtimeIdOf, type ContainerRecord } from './record.js';
import type { RootfsMount } from './snapshot-port.js';

/** The Engine API's change kinds. */
const CHANGE_KIND = { modified: 0, added: 1, deleted: 2 } as const;

const capitalized = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

/** A container's root as the host sees it, held until `release`. */
interface OpenRoot {
  root: string;
  /** Volumes and binds not mounted under `root` (a stopped container's): paths below them are redirected. */
  unmounted: RootMount[];
  /** Where a running container has mounts (from its driver): an extraction may not replace them. */
  mountPoints?: readonly string[];
  release: () => Promise<void>;
}

/** docker cp (both ways), export, diff, and the copy of image content into new volumes. */
export class ContainerFilesystem {
  constructor(private readonly ctx: ContainerContext) {}

  async archiveStat(ref: string, path: string): Promise<ArchivePathStat> {
    const r = this.ctx.table.resolve(ref);
    const { root, unmounted, release } = await this.openRoot(r);
    try {
      return (await statPath(root, path, unmounted).catch((err: unknown) => {
        throw err instanceof NotFoundError ? new NotFoundError(`Could not find the file ${path} in container ${ref}`) : err;
      })).stat;
    } finally {
      await release();
    }
  }

  async getArchive(ref: string, path: string): Promise<{ stat: ArchivePathStat; tar: Readable }> {
    const r = this.ctx.table.resolve(ref);
    const { root, unmounted, release } = await this.openRoot(r);
    try {
      const { host, resolved, stat } = await statPath(root, path, unmounted).catch((err: unknown) => {
        throw err instanceof NotFoundError ? new NotFoundError(`Could not find the file ${path} in container ${ref}`) : err;
      });
      const tar = archiveOf(host, resolved, path, stat.name);
      tar.on('close', () => void release());
      this.ctx.emit(r, 'archive-path');
      return { stat, tar };
    } catch (err) {
      await release();
      throw err;
    }
  }

  async putArchive(ref: string, path: string, tar: Readable, opts: { noOverwriteDirNonDir?: boolean; copyUIDGID?: boolean } = {}): Promise<void> {
    const id = this.ctx.table.resolve(ref).id;
    const { driver } = this.ctx;
    // Under the container's lock (as Docker's): no start, stop or rm while its tree is written.
    await this.ctx.serial(id, async () => {
      const r = this.ctx.table.resolve(id);
      // Paused, nothing in the container can swap a directory for a link while we write.
      const pause = r.state.status === 'running' && driver.pause !== undefined;
      if (pause) await driver.pause!(runtimeIdOf(r)).catch(() => undefined);
      const { root, unmounted, mountPoints, release } = await this.openRoot(r);
      try {
        await extractToDir(
          {
            ref,
            root,
            unmounted,
            ...(mountPoints ? { mountPoints } : {}),
            mounts: r.mounts.map((m) => ({ destination: m.Destination, rw: m.RW })),
            readonlyRootfs: !!r.hostConfig.ReadonlyRootfs,
            user: r.config.User ?? '',
          },
          path,
          tar,
          opts,
        );
      } finally {
        await release();
        if (pause) await driver.unpause!(runtimeIdOf(r)).catch(() => undefined);
      }
      this.ctx.emit(r, 'extract-to-dir');
    });
  }

  /** `docker export`: the snapshot (image + writable layer, no volumes) as a tar stream. */
  async export(ref: string): Promise<Readable> {
    const r = this.ctx.table.resolve(ref);
    const snaps = this.ctx.deps.snapshots;
    if (snaps.exportTree) {
      if (snaps.readsRunningChanges === false && isRunning(r)) throw new BerthError('Internal', `${capitalized(this.ctx.deps.hostOs ?? 'this host')} does not support export of a running container`);
      const tar = snaps.exportTree(r.snapshotKey);
      this.ctx.emit(r, 'export');
      return tar;
    }
    const { dir, release } = await this.mountSnapshot(r, 'tmp-export-');
    // as dockerd 20.10 writes it (see exportTar); the mount goes once the stream ends or is dropped
    const tar = exportTar(dir);
    tar.once('close', () => void release());
    this.ctx.emit(r, 'export');
    return tar;
  }

  async changes(ref: string): Promise<{ Path: string; Kind: 0 | 1 | 2 }[]> {
    const r = this.ctx.table.resolve(ref);
    const snaps = this.ctx.deps.snapshots;
    // dockerd on Windows: its filter holds a running container's scratch
    if (snaps.readsRunningChanges === false && isRunning(r)) throw new BerthError('Internal', `${capitalized(this.ctx.deps.hostOs ?? 'this host')} does not support diff of a running container`);
    if (!snaps.diffSource || !snaps.view) throw new BerthError('Unsupported', 'the snapshotter cannot list changes');
    const source = await snaps.diffSource(r.snapshotKey);
    if (source.kind === 'trees') return treeChanges(source.upper, source.lower);
    if (source.kind === 'layer-tar') return (await source.changes()).map((c) => ({ Path: c.path, Kind: CHANGE_KIND[c.kind] }));
    // The image's tree, to tell modified from added: a read-only view mounted on a temp dir.
    const viewKey = `view-${newId().slice(0, 16)}`;
    const dir = await mkdtemp(join(this.ctx.deps.root, 'tmp-changes-'));
    try {
      const mounts = r.parentChainId ? await snaps.view(viewKey, r.parentChainId) : [];
      const mnt = mounts[0];
      if (mnt) await mountAll([mnt], dir);
      try {
        return await overlayChanges(source.upper, dir);
      } finally {
        if (mnt) await unmount(dir).catch(() => undefined);
      }
    } finally {
      if (r.parentChainId) await snaps.remove(viewKey).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Docker copies the image's content at a volume's mount point into a new, empty volume. */
  async copyUp(r: ContainerRecord, rootfs: RootfsMount[]): Promise<void> {
    const dir = await mkdtemp(join(this.ctx.deps.root, 'tmp-copyup-'));
    const mnt = rootfs[0];
    try {
      if (mnt) await mountAll([mnt], dir);
      try {
        for (const name of r.copyUp) {
          const m = r.mounts.find((x) => x.Name === name);
          if (!m || !(await this.ctx.deps.volumes.isEmpty(name))) continue;
          const from = join(dir, m.Destination);
          try {
            await readdir(from);
          } catch {
            continue;
          }
          await copyTree(from, m.Source);
        }
      } finally {
        if (mnt) await unmount(dir);
      }
      r.copyUp = [];
      this.ctx.table.save(r);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /**
   * The container's root as the host sees it: the running one's from its driver (volumes
   * and mounts included), else its snapshot mounted on a temp dir.
   */
  private async openRoot(r: ContainerRecord): Promise<OpenRoot> {
    if (isRunning(r)) {
      const opened = await this.ctx.driver.openRoot(runtimeIdOf(r));
      return { root: opened.path, unmounted: [], mountPoints: opened.mountPoints ?? [], release: () => opened.release() };
    }
    const unmounted = r.mounts
      .filter((m) => m.Source !== '' && (m.Type === 'volume' || m.Type === 'bind'))
      .map((m) => ({ destination: m.Destination, source: m.Source }));
    const { dir, release } = await this.mountSnapshot(r, 'tmp-archive-');
    return { root: dir, unmounted, release };
  }

  private async mountSnapshot(r: ContainerRecord, prefix: string): Promise<{ dir: string; release: () => Promise<void> }> {
    const mnt = (await this.ctx.deps.snapshots.mounts(r.snapshotKey))[0];
    const dir = await mkdtemp(join(this.ctx.deps.root, prefix));
    if (mnt) await mountAll([mnt], dir);
    let released = false;
    return {
      dir,
      release: async () => {
        if (released) return;
        released = true;
        if (mnt) await unmount(dir).catch(() => undefined);
        // rmdir, not rm -r: should the unmount have failed, the container's files stay.
        await rmdir(dir).catch(() => undefined);
      },
    };
  }
}
