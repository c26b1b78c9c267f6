import { mkdir } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { InvalidArgumentError } from '@berth/image-format';
import { SCHEMA_V21, winJoin, type HcsApi, type LayerData } from '@berth/hcs';
import type { ContainerSpec } from '@berth/runtime';
import { WINDOWS_LAYER_MOUNT, parentLayerPaths } from './layer-store.js';

/** The last component of a Windows path (layer ids are NameToGuid of the folder name). */
export function winBasename(p: string): string {
  return p.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? p;
}

/** LayerData of the container's read-only layers (topmost first, the base layer last): rootfs.layers, or a snapshotter's windows-layer mount. */
export async function layerData(hcs: HcsApi, spec: ContainerSpec): Promise<LayerData> {
  const folders = spec.rootfs.layers ?? parentLayerPaths(spec.rootfs.mounts);
  if (!folders?.length) throw new InvalidArgumentError('a Windows container needs rootfs.layers (the layer folders, base layer last)');
  return layerDataOf(hcs, folders);
}

/** LayerData naming these layer folders, topmost first. */
export async function layerDataOf(hcs: HcsApi, folders: readonly string[]): Promise<LayerData> {
  const layers = await Promise.all(folders.map(async (path) => ({ Id: await hcs.layerId(winBasename(path)), Path: path })));
  return { SchemaVersion: { ...SCHEMA_V21 }, Layers: layers };
}

/** A path under a layer or scratch folder: Windows' `\`, or `/` under a POSIX folder (the simulator's on Linux). */
export function folderJoin(root: string, ...parts: string[]): string {
  return root.startsWith('/') && !root.includes('\\') ? [root.replace(/\/+$/, ''), ...parts].join('/') : winJoin(root, ...parts);
}

/** The container's scratch folder under the driver's scratch root. */
export function scratchFolder(root: string, id: string): string {
  return folderJoin(root, id);
}

/**
 * Where a container's writable layer goes: the folder of the snapshot the engine prepared
 * for it (a `windows-layer` mount, as containerd's windows snapshotter hands hcsshim), so
 * the snapshotter can export it for diff and commit; else a folder under the scratch root.
 */
export function scratchFor(spec: ContainerSpec, root: string): string {
  const m = spec.rootfs.mounts?.[0];
  return m?.type === WINDOWS_LAYER_MOUNT && m.source ? m.source : scratchFolder(root, spec.id);
}

/** HcsInitializeWritableLayer writes into a folder that exists (as hcsshim's CreateScratchLayer callers make it). */
export async function makeScratchFolder(path: string): Promise<void> {
  // a Windows path on Linux (the simulator's documents-only tests) names no local folder
  if (isAbsolute(path)) await mkdir(path, { recursive: true });
}
