/**
 * Windows image layers as HCS keeps them (containerd's windowsfilter layout): each
 * committed snapshot is a layer folder HcsImportLayer filled (`Files\`, `Hives\`, and in
 * a base layer `UtilityVM\`), on top of its parents' folders. The engine unpacks a layer
 * through the guarded extractor into the active snapshot's staging folder (`.wh.` entries
 * kept, as the importer reads them); commit imports it with the parent chain, topmost
 * first. An active snapshot's mount is containerd's `windows-layer` mount: the snapshot's
 * folder as source and `parentLayerPaths=[...]`; the Windows drivers make the container's
 * writable layer over those parents.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { ConflictError, InvalidArgumentError, NotFoundError, UnsupportedError } from '@berth/image-format';
import type { HcsApi } from '@berth/hcs';
import type { ApplyOptions, ApplyTarget, DiffSource, Mount, SnapshotInfo, SnapshotKind, Snapshotter, Usage } from '@berth/layer-store';
import { layerDataOf } from './layers.js';
import { exportChanges, exportLayerTar, exportTombstones } from './layer-export.js';
import { treeTar } from './tree-export.js';
import { applyLinuxOrWindows, type LinuxLayerTarWriter } from './linux-tar.js';
import { applyWindowsLayer } from './layer-import-sd.js';

/** containerd's mount type for a Windows snapshot. */
export const WINDOWS_LAYER_MOUNT = 'windows-layer';
const PARENTS_OPTION = 'parentLayerPaths=';

/** The read-only layer folders (topmost first) of a `windows-layer` mount, or undefined for another mount. */
export function parentLayerPaths(mounts: readonly { type: string; options?: string[] }[] | undefined): string[] | undefined {
  const m = mounts?.[0];
  if (!m || m.type !== WINDOWS_LAYER_MOUNT) return undefined;
  const opt = m.options?.find((o) => o.startsWith(PARENTS_OPTION));
  return opt ? (JSON.parse(opt.slice(PARENTS_OPTION.length)) as string[]) : [];
}

interface Record_ {
  key: string;
  id: string;
  kind: SnapshotKind;
  parent?: string;
  labels: Record<string, string>;
  createdAt: string;
  updatedAt: string;
  /** A committed snapshot HCS imported (destroyLayer undoes it). */
  imported?: boolean;
  /** A Linux image's layer (LCOW): written by the Linux layer writer, never imported. */
  linux?: boolean;
}

export interface WindowsLayerStoreOptions {
  /**
   * Writes a Linux image's layer (what the extractor put in `staging`) into its folder as
   * the LCOW utility VM mounts it (driver-windows-hyperv: `layer.vhd`, ext4). Without it a
   * Linux layer is refused.
   */
  linuxLayer?: (staging: string, folder: string) => Promise<void>;
  /**
   * Writes a Linux layer's disk straight from its tar (driver-windows-hyperv: hcs's
   * layerVhdFromTar). With it a layer applied through applyToTarget never touches the
   * host file system when it is Linux; `linuxLayer` is left for trees applied into `dir`.
   */
  linuxLayerTar?: LinuxLayerTarWriter;
}

interface State {
  seq: number;
  snapshots: Record_[];
}

export class WindowsLayerSnapshotter implements Snapshotter {
  readonly name = 'windowsfilter';
  private constructor(
    private readonly hcs: HcsApi,
    private readonly root: string,
    private state: State,
    private readonly options: WindowsLayerStoreOptions,
  ) {}

  /** Opens (or makes) the store under `root` (berthd: `<data-root>\windowsfilter`). */
  static async open(root: string, hcs: HcsApi, options: WindowsLayerStoreOptions = {}): Promise<WindowsLayerSnapshotter> {
    await mkdir(root, { recursive: true });
    const text = await readFile(join(root, 'snapshots.json'), 'utf8').catch(() => undefined);
    return new WindowsLayerSnapshotter(hcs, root, text ? (JSON.parse(text) as State) : { seq: 0, snapshots: [] }, options);
  }

  /** A Linux layer: its parent's kind, or for a base layer, no `Files\` or `Hives\` (every Windows layer has them). */
  private async isLinux(r: Record_, staging: string): Promise<boolean> {
    if (r.parent !== undefined) return !!this.get(r.parent).linux;
    const top = (await readdir(staging).catch(() => [] as string[])).map((n) => n.toLowerCase());
    return top.length > 0 && !top.includes('files') && !top.includes('hives');
  }

  private async save(): Promise<void> {
    const tmp = join(this.root, `.snapshots.${randomBytes(4).toString('hex')}.json`);
    await writeFile(tmp, JSON.stringify(this.state));
    await rename(tmp, join(this.root, 'snapshots.json'));
  }

  private get(key: string): Record_ {
    const r = this.state.snapshots.find((s) => s.key === key);
    if (!r) throw new NotFoundError(`snapshot ${key} does not exist`);
    return r;
  }

  private folder(r: Record_): string {
    return join(this.root, r.id);
  }

  private staging(r: Record_): string {
    return join(this.root, `${r.id}-staging`);
  }

  /** The committed layer folders under (and including) `key`, topmost first. */
  private chain(key: string | undefined): string[] {
    const out: string[] = [];
    for (let k = key; k !== undefined; ) {
      const r = this.get(k);
      out.push(this.folder(r));
      k = r.parent;
    }
    return out;
  }

  private info(r: Record_): SnapshotInfo {
    return { key: r.key, ...(r.parent !== undefined ? { parent: r.parent } : {}), kind: r.kind, createdAt: new Date(r.createdAt), updatedAt: new Date(r.updatedAt), labels: { ...r.labels } };
  }

  async stat(key: string): Promise<SnapshotInfo> {
    return this.info(this.get(key));
  }

  private async create(kind: SnapshotKind, key: string, parent: string | undefined, labels: Record<string, string> = {}): Promise<Mount[]> {
    if (this.state.snapshots.some((s) => s.key === key)) throw new ConflictError(`snapshot ${key} already exists`);
    if (parent !== undefined && this.get(parent).kind !== 'committed') throw new InvalidArgumentError(`parent ${parent} is not committed`);
    const now = new Date().toISOString();
    const r: Record_ = { key, id: String(++this.state.seq), kind, ...(parent !== undefined ? { parent } : {}), labels: { ...labels }, createdAt: now, updatedAt: now };
    await mkdir(this.folder(r), { recursive: true });
    this.state.snapshots.push(r);
    await this.save();
    return this.mounts(key);
  }

  prepare(key: string, parent?: string, opts?: { labels?: Record<string, string> }): Promise<Mount[]> {
    return this.create('active', key, parent, opts?.labels);
  }

  view(key: string, parent?: string, opts?: { labels?: Record<string, string> }): Promise<Mount[]> {
    return this.create('view', key, parent, opts?.labels);
  }

  async mounts(key: string): Promise<Mount[]> {
    const r = this.get(key);
    const parents = this.chain(r.parent);
    const options = [`${PARENTS_OPTION}${JSON.stringify(parents)}`];
    if (r.kind !== 'active') options.unshift('ro');
    return [{ type: WINDOWS_LAYER_MOUNT, source: this.folder(r), options }];
  }

  async commit(name: string, key: string, opts?: { labels?: Record<string, string> }): Promise<void> {
    const r = this.get(key);
    if (r.kind !== 'active') throw new InvalidArgumentError(`snapshot ${key} is not active`);
    if (this.state.snapshots.some((s) => s.key === name)) throw new ConflictError(`snapshot ${name} already exists`);
    // what was applied into the staging folder becomes the layer (an empty layer if nothing was)
    const staging = this.staging(r);
    await mkdir(staging, { recursive: true });
    const linux = r.linux || (await this.isLinux(r, staging));
    if (linux && !r.linux) {
      if (!this.options.linuxLayer) throw new UnsupportedError('a Linux image\'s layers on a Windows host need the LCOW layer writer (driver-windows-hyperv)');
      await this.options.linuxLayer(staging, this.folder(r));
    } else if (!linux) await this.hcs.importLayer(this.folder(r), staging, await layerDataOf(this.hcs, this.chain(r.parent)));
    await rm(staging, { recursive: true, force: true });
    r.key = name;
    r.kind = 'committed';
    if (linux) r.linux = true;
    else r.imported = true;
    r.labels = { ...r.labels, ...(opts?.labels ?? {}) };
    r.updatedAt = new Date().toISOString();
    await this.save();
  }

  async remove(key: string): Promise<void> {
    const r = this.get(key);
    if (this.state.snapshots.some((s) => s.parent === key)) throw new ConflictError(`snapshot ${key} has children`);
    if (r.imported) await this.hcs.destroyLayer(this.folder(r));
    await rm(this.folder(r), { recursive: true, force: true });
    await rm(this.staging(r), { recursive: true, force: true });
    this.state.snapshots = this.state.snapshots.filter((s) => s !== r);
    await this.save();
  }

  async walk(): Promise<SnapshotInfo[]> {
    // ids grow, and a parent is always made before its children
    return [...this.state.snapshots].sort((a, b) => Number(a.id) - Number(b.id)).map((r) => this.info(r));
  }

  async usage(key: string): Promise<Usage> {
    const r = this.get(key);
    let size = 0;
    let inodes = 0;
    const walk = async (dir: string): Promise<void> => {
      for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
        inodes++;
        const p = join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else size += (await stat(p).catch(() => ({ size: 0 }))).size;
      }
    };
    await walk(this.folder(r));
    return { size, inodes };
  }

  async applyTarget(key: string): Promise<ApplyTarget> {
    const r = this.get(key);
    if (r.kind !== 'active') throw new InvalidArgumentError(`snapshot ${key} is not active`);
    const dir = this.staging(r);
    await mkdir(dir, { recursive: true });
    const writeLinux = this.options.linuxLayerTar;
    const parentLinux = r.parent === undefined ? undefined : !!this.get(r.parent).linux;
    // security descriptors go onto the extracted files through BackupWrite (layer-import-sd.ts)
    const applyWindows = (tar: Readable, staging: string, opts: ApplyOptions) => applyWindowsLayer(tar, staging, opts, this.hcs.backup);
    if (!writeLinux || parentLinux === false) return { dir, whiteouts: 'keep', apply: (input, opts) => applyWindowsLayer(input, dir, opts, this.hcs.backup) };
    const onLinux = async () => {
      r.linux = true;
      await this.save();
    };
    return { dir, whiteouts: 'keep', apply: (input, opts) => applyLinuxOrWindows({ input, opts, parentLinux, staging: dir, folder: this.folder(r), writeLinux, onLinux, applyWindows }) };
  }

  /** The filter holds a running container's scratch: dockerd on Windows refuses diff and commit of one. */
  readonly readsRunningChanges = false;

  /**
   * An active snapshot a Windows driver made its container's scratch (the writable layer is
   * the snapshot's folder): HcsExportLayer reads its changes, each time into a folder of its
   * own that goes once read (see layer-export.ts).
   */
  async diffSource(key: string): Promise<DiffSource> {
    const r = this.get(key);
    if (r.kind !== 'active') throw new InvalidArgumentError(`snapshot ${key} is not a container's writable layer`);
    const parents = await layerDataOf(this.hcs, this.chain(r.parent));
    const exportDir = () => join(this.root, `${r.id}-export-${randomBytes(4).toString('hex')}`);
    const exportInto = async (dir: string) => {
      await mkdir(dir);
      await this.hcs.exportLayer(this.folder(r), dir, parents, { IsWritableLayer: true });
    };
    const removed = (dir: string) => rm(dir, { recursive: true, force: true });
    return {
      kind: 'layer-tar',
      tar: () => {
        const dir = exportDir();
        return exportLayerTar(dir, () => exportInto(dir), () => removed(dir), this.hcs.backup);
      },
      changes: async () => {
        const dir = exportDir();
        try {
          await exportInto(dir);
          return await exportChanges(dir);
        } finally {
          await removed(dir);
        }
      },
    };
  }

  /**
   * `docker export`: the snapshot's whole tree as a tar (the host cannot mount a
   * windows-layer snapshot): an active one's changes (HcsExportLayer) over its layers.
   */
  exportTree(key: string): Readable {
    const r = this.get(key);
    const dir = join(this.root, `${r.id}-export-${randomBytes(4).toString('hex')}`);
    return treeTar(
      async () => {
        const layers = this.chain(r.kind === 'active' ? r.parent : key).map((f) => join(f, 'Files'));
        if (r.kind !== 'active') return { roots: layers, deleted: [] };
        await mkdir(dir);
        await this.hcs.exportLayer(this.folder(r), dir, await layerDataOf(this.hcs, this.chain(r.parent)), { IsWritableLayer: true });
        const deleted = (await exportTombstones(dir)).filter((p) => p.startsWith('Files/')).map((p) => p.slice('Files/'.length));
        return { roots: [join(dir, 'Files'), ...layers], deleted };
      },
      () => rm(dir, { recursive: true, force: true }),
    );
  }

  close(): void {}
}
