/**
 * @berth/driver-windows-process — RuntimeDriver for process-isolated Windows Server
 * containers over an HcsApi (the real HCS through @berth/hcs/koffi on Windows, or
 * HcsSimulator). WindowsDriverCore is shared with @berth/driver-windows-hyperv.
 */
export { WindowsProcessDriver, type ProcessDriverOptions } from './driver.js';
export { WindowsDriverCore, type Sandbox, type WindowsDriverOptions } from './core.js';
export { signalOptions } from './signals.js';
export { folderJoin, layerData, layerDataOf, makeScratchFolder, scratchFolder, scratchFor, winBasename } from './layers.js';
export { WindowsLayerSnapshotter, parentLayerPaths, WINDOWS_LAYER_MOUNT, type WindowsLayerStoreOptions } from './layer-store.js';
export { FileLog } from './log.js';
export { HcnNetworkDriver, type HcnNetworkDriverOptions, type LiveEndpointHook } from './hcn-network.js';
