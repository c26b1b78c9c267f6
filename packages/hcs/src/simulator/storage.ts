import { createHash, randomUUID } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { HRESULT, HcsError } from '../hresult.js';
import type { LayerData } from '../types.js';

export interface SimLayer {
  path: string;
  /** os.version of the image the base layer belongs to. */
  osVersion: string;
  os: 'windows' | 'linux';
  /** A Windows base layer with `UtilityVM\` (Hyper-V isolation boots from it). */
  utilityVm: boolean;
  parents: string[];
}

function lower(p: string): string {
  return p.replace(/\\+$/, '').toLowerCase();
}

export function basename(p: string): string {
  const parts = p.replace(/[\\/]+$/, '').split(/[\\/]/);
  return parts[parts.length - 1] ?? '';
}

/** vmcompute!NameToGuid stand-in: a stable name-based GUID (the real one cannot be computed off Windows). */
export function nameToGuid(name: string): string {
  const h = createHash('sha1').update(`berth-sim:${name}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

const isDir = (p: string): boolean => existsSync(p) && statSync(p).isDirectory();

/** Layers, writable layers and their mounts, as computestorage and vmcompute keep them. */
export class SimStorage {
  /**
   * Layer folders are real directories (a local path stands for the Windows one): what is
   * imported, initialized or attached must exist on disk, as HCS requires.
   */
  onDisk = false;
  /** os.version a base layer imported here gets (the simulated host's). */
  hostOsVersion = '10.0.20348.2340';

  readonly layers = new Map<string, SimLayer>();
  /** writable layer path → its parents (set by HcsInitializeWritableLayer) */
  readonly writable = new Map<string, { parents: string[]; volume?: string; filter?: boolean; hostDir?: string; deleted?: Set<string> }>();
  /** volume GUID path → writable layer path */
  readonly volumes = new Map<string, string>();

  addBaseLayer(path: string, info: { osVersion: string; os?: 'windows' | 'linux'; utilityVm?: boolean }): void {
    this.layers.set(lower(path), { path, osVersion: info.osVersion, os: info.os ?? 'windows', utilityVm: info.utilityVm ?? (info.os ?? 'windows') === 'windows', parents: [] });
  }

  layer(path: string): SimLayer | undefined {
    return this.layers.get(lower(path));
  }

  /** The base layer under a chain (the last of layerData's layers). */
  base(paths: string[]): SimLayer | undefined {
    const last = paths[paths.length - 1];
    return last === undefined ? undefined : this.layer(last)?.parents.length ? this.layer(this.layer(last)!.parents.at(-1)!) : this.layer(last);
  }

  checkLayerData(op: string, data: LayerData, requireLayers = true): SimLayer[] {
    if (requireLayers && data.Layers.length === 0) throw new HcsError(HRESULT.E_INVALIDARG, op, 'layerData has no layers');
    const chain = data.Layers.map((l) => lower(l.Path));
    return data.Layers.map((l, i) => {
      const known = this.layer(l.Path);
      if (!known) throw new HcsError(HRESULT.HCS_E_INVALID_LAYER, op, `${l.Path} is not a layer`);
      if (l.Id.toLowerCase() !== nameToGuid(basename(l.Path))) throw new HcsError(HRESULT.HCS_E_INVALID_LAYER, op, `${l.Id} is not the id of ${l.Path}`);
      if (this.onDisk && !isDir(l.Path)) throw new HcsError(HRESULT.ERROR_PATH_NOT_FOUND, op, `layer folder ${l.Path} does not exist`);
      // topmost first, the base last: each layer's own parents are exactly the ones after it
      const own = known.parents.map(lower);
      const after = chain.slice(i + 1);
      if (own.length !== after.length || own.some((p, j) => p !== after[j])) {
        throw new HcsError(HRESULT.HCS_E_INVALID_LAYER, op, `layerData is not ${l.Path}'s parent chain (topmost first, base last)`);
      }
      return known;
    });
  }

  /** HcsImportLayer: with no parents, a base layer (its os.version is the host's here; a real one carries it in its hives). */
  importLayer(path: string, source: string, data: LayerData): void {
    if (this.onDisk && !isDir(source)) throw new HcsError(HRESULT.ERROR_PATH_NOT_FOUND, 'HcsImportLayer', `source folder ${source} does not exist`);
    if (this.onDisk && !isDir(path)) throw new HcsError(HRESULT.ERROR_PATH_NOT_FOUND, 'HcsImportLayer', `layer folder ${path} does not exist`);
    // the layer's files land in its folder (a real import converts them; here they are copied)
    if (this.onDisk) cpSync(source, path, { recursive: true });
    if (data.Layers.length === 0) {
      if (!this.onDisk) throw new HcsError(HRESULT.E_INVALIDARG, 'HcsImportLayer', 'layerData has no layers');
      const utilityVm = isDir(join(source, 'UtilityVM'));
      // what ProcessUtilityVMImage leaves for Hyper-V isolation: the utility VM's scratch template
      if (utilityVm) {
        mkdirSync(join(path, 'UtilityVM'), { recursive: true });
        writeFileSync(join(path, 'UtilityVM', 'SystemTemplate.vhdx'), 'simulated SystemTemplate.vhdx');
      }
      this.layers.set(lower(path), { path, osVersion: this.hostOsVersion, os: 'windows', utilityVm, parents: [] });
      return;
    }
    const parents = this.checkLayerData('HcsImportLayer', data);
    const base = parents[parents.length - 1]!;
    this.layers.set(lower(path), { path, osVersion: base.osVersion, os: base.os, utilityVm: false, parents: parents.map((p) => p.path) });
  }

  initializeWritable(path: string, data: LayerData): void {
    if (this.onDisk && !isDir(path)) throw new HcsError(HRESULT.ERROR_PATH_NOT_FOUND, 'HcsInitializeWritableLayer', `writable layer folder ${path} does not exist`);
    const parents = this.checkLayerData('HcsInitializeWritableLayer', data);
    // HCS leaves the scratch disk in the folder (its contents are not simulated)
    if (this.onDisk) writeFileSync(join(path, 'sandbox.vhdx'), '');
    this.writable.set(lower(path), { parents: parents.map((p) => p.path) });
  }

  attachFilter(path: string, data: LayerData): void {
    const w = this.writable.get(lower(path));
    if (!w) throw new HcsError(HRESULT.ERROR_PATH_NOT_FOUND, 'HcsAttachLayerStorageFilter', `${path} is not a writable layer`);
    this.checkLayerData('HcsAttachLayerStorageFilter', data);
    w.filter = true;
  }

  detachFilter(path: string): void {
    const w = this.writable.get(lower(path));
    if (!w?.filter) throw new HcsError(HRESULT.ERROR_NOT_FOUND, 'HcsDetachLayerStorageFilter', `${path} has no filter attached`);
    w.filter = false;
  }

  mount(path: string, data: LayerData): string {
    const w = this.writable.get(lower(path));
    if (!w) throw new HcsError(HRESULT.ERROR_PATH_NOT_FOUND, 'PrepareLayer', `${path} is not a writable layer`);
    this.checkLayerData('PrepareLayer', data);
    if (w.volume) return w.volume;
    w.volume = `\\\\?\\Volume{${randomUUID()}}\\`;
    // a Windows host opens the volume path itself; here a real directory stands for the scratch's files
    w.hostDir ??= mkdtempSync(join(tmpdir(), 'berth-hcs-scratch-'));
    this.volumes.set(w.volume.toLowerCase(), path);
    return w.volume;
  }

  unmount(path: string): void {
    const w = this.writable.get(lower(path));
    if (!w?.volume) return;
    this.volumes.delete(w.volume.toLowerCase());
    delete w.volume;
  }

  destroy(path: string): void {
    const w = this.writable.get(lower(path));
    if (w?.volume) throw new HcsError(HRESULT.HCS_E_INVALID_STATE, 'HcsDestroyLayer', `${path} is mounted`);
    if (w?.hostDir) rmSync(w.hostDir, { recursive: true, force: true });
    this.writable.delete(lower(path));
    this.layers.delete(lower(path));
    // HcsDestroyLayer deletes the layer folder itself
    if (this.onDisk) rmSync(path, { recursive: true, force: true });
  }

  /**
   * What a container's programs do to its C:\ (a guest path): a write lands in the scratch;
   * a delete removes the scratch's copy and, where a layer below has the file, leaves a
   * tombstone (as the filter does), which HcsExportLayer reports.
   */
  guestWrite(volume: string, path: string, data: Buffer): void {
    const { w, rel } = this.scratchOf(volume, path);
    const file = join(w.hostDir!, rel);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, data);
    w.deleted?.delete(rel);
  }

  /** The container's view of a file: the scratch's copy unless deleted there, then each layer's `Files\` top-down, a `.wh.` entry hiding those below. */
  guestRead(volume: string, path: string): Buffer | undefined {
    const { w, rel } = this.scratchOf(volume, path);
    const read = (file: string): Buffer | undefined => {
      try {
        return statSync(file).isFile() ? readFileSync(file) : undefined;
      } catch {
        return undefined;
      }
    };
    const own = read(join(w.hostDir!, rel));
    if (own || w.deleted?.has(rel) || !this.onDisk) return own;
    const slash = rel.lastIndexOf('/');
    const whiteout = `${rel.slice(0, slash + 1)}.wh.${rel.slice(slash + 1)}`;
    for (const layer of w.parents) {
      const found = read(join(layer, 'Files', rel));
      if (found) return found;
      if (existsSync(join(layer, 'Files', whiteout))) return undefined;
    }
    return undefined;
  }

  guestRemove(volume: string, path: string): void {
    const { w, rel } = this.scratchOf(volume, path);
    rmSync(join(w.hostDir!, rel), { recursive: true, force: true });
    if (!this.onDisk || w.parents.some((p) => existsSync(join(p, 'Files', rel)))) (w.deleted ??= new Set()).add(rel);
  }

  private scratchOf(volume: string, path: string) {
    const writable = this.volumes.get(volume.toLowerCase());
    const w = writable === undefined ? undefined : this.writable.get(lower(writable));
    const rel = path.replace(/^[a-z]:/i, '').replace(/\\/g, '/').replace(/^\/+/, '');
    if (!w?.hostDir || !rel || rel.split('/').includes('..')) throw new HcsError(HRESULT.ERROR_PATH_NOT_FOUND, 'guest file', `${path} on ${volume}`);
    return { w, rel };
  }

  /**
   * HcsExportLayer of a writable layer: its changes as a layer folder in the legacy
   * layout hcsshim's layer reader reads: `Files\` with what was written, and
   * `tombstones.txt` (a UTF-8 BOM, `Version 1.0`, then one `\Files\...` line per delete).
   */
  exportWritable(path: string, folder: string): void {
    const w = this.writable.get(lower(path));
    if (!w) throw new HcsError(HRESULT.ERROR_PATH_NOT_FOUND, 'HcsExportLayer', `${path} is not a writable layer`);
    if (this.onDisk && !isDir(folder)) throw new HcsError(HRESULT.ERROR_PATH_NOT_FOUND, 'HcsExportLayer', `export folder ${folder} does not exist`);
    mkdirSync(join(folder, 'Files'), { recursive: true });
    if (w.hostDir) cpSync(w.hostDir, join(folder, 'Files'), { recursive: true });
    if (w.deleted?.size) {
      const lines = [...w.deleted].sort().map((rel) => `\\Files\\${rel.replace(/\//g, '\\')}`);
      writeFileSync(join(folder, 'tombstones.txt'), `\ufeffVersion 1.0\n${lines.join('\n')}\n`);
    }
  }

  /** The host directory holding the files of the scratch mounted at a volume path. */
  hostDir(volume: string): string | undefined {
    const w = this.volumes.get(volume.toLowerCase());
    return w === undefined ? undefined : this.writable.get(lower(w))?.hostDir;
  }

  /** Remove the directories standing for scratches (the simulator's only state on disk). */
  removeHostDirs(): void {
    for (const w of this.writable.values()) if (w.hostDir) rmSync(w.hostDir, { recursive: true, force: true });
  }

  /** The writable layer mounted at a volume path (a process container's Storage.Path). */
  volume(path: string): { writable: string; parents: string[] } | undefined {
    const w = this.volumes.get(path.toLowerCase());
    return w === undefined ? undefined : { writable: w, parents: this.writable.get(lower(w))!.parents };
  }
}
