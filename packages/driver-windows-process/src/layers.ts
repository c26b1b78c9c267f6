import { InvalidArgumentError } from '@berth/image-format';
import { SCHEMA_V21, winJoin, type HcsApi, type LayerData } from '@berth/hcs';
import type { ContainerSpec } from '@berth/runtime';

/** The last component of a Windows path (layer ids are NameToGuid of the folder name). */
export function winBasename(p: string): string {
  return p.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? p;
}

/** LayerData of the container's read-only layers (topmost first, the base layer last). */
export async function layerData(hcs: HcsApi, spec: ContainerSpec): Promise<LayerData> {
  const folders = spec.rootfs.layers;
  if (!folders?.length) throw new InvalidArgumentError('a Windows container needs rootfs.layers (the layer folders, base layer last)');
  const layers = await Promise.all(folders.map(async (path) => ({ Id: await hcs.layerId(winBasename(path)), Path: path })));
  return { SchemaVersion: { ...SCHEMA_V21 }, Layers: layers };
}

/** The container's scratch folder under the driver's scratch root. */
export function scratchFolder(root: string, id: string): string {
  return winJoin(root, id);
}
