// The security boundary between archives and paths from outside and the host filesystem:
// one guarded extractor and one in-root resolver. Importable alone (`@berth/layer-store/archive`)
// by programs that have no content store, such as the CLI.
export { extractTar, UnsafeEntryError, type ExtractPolicy, type ExtractResult, type ExtractRules } from './extract.js';
export { locateInRoot, resolveInRoot, mountOf, UnsafePathError, type InRootPath, type ResolveOptions, type RootMount } from './resolve-in-root.js';
export { mayMakeDeviceNodes, type ProcessPrivilege } from './device-privilege.js';
export {
  readLayerEntries,
  checkLayerName,
  layerPath,
  layerHardlinkTarget,
  whiteoutTarget,
  layerXattrAllowed,
  WHITEOUT,
  OPAQUE,
  type LayerEntry,
  type ReadLayerOptions,
  type ReadLayerResult,
} from './layer-entries.js';
export { sniffingDecompressor, type Decompressor } from './decompress.js';
export { packableHeader, withPaxTimes } from './tar-times.js';
