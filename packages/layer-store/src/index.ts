export { openDatabase, migrate, type Db, type Migration } from './db/database.js';
export {
  BlobExistsError,
  type BlobInfo,
  type BlobSink,
  type ContentStore,
  type ContentWriter,
  type Expected,
  type IngestStatus,
  type WriterOptions,
} from './content/store.js';
export { FileContentStore, type FileContentStoreOptions } from './content/file-store.js';
export { applyLayer, applyToTarget, UnsafeLayerError, type ApplyOptions, type ApplyResult } from './archive/apply.js';
export * from './archive/index.js';
export { exportTar } from './archive/export-tar.js';
export type {
  ApplyTarget,
  DiffSource,
  SnapshotChange,
  Mount,
  SnapshotInfo,
  SnapshotKind,
  Snapshotter,
  Usage,
} from './snapshot/snapshotter.js';
export { type SnapshotterOptions } from './snapshot/base.js';
export { OverlaySnapshotter } from './snapshot/overlay.js';
export { NativeSnapshotter } from './snapshot/native.js';
export { mountAll, unmount } from './snapshot/mount.js';
export { unpackLayer, layerRecord, CONTENT_SIZE_LABEL, type UnpackOptions, type UnpackResult, type LayerRecord } from './layer/unpack.js';
export {
  LayerChainUnpacker,
  unpackLayersConcurrently,
  type ChainUnpackOptions,
  type ChainLayerResult,
} from './layer/unpack-chain.js';
export { createDiff, UNCOMPRESSED_LABEL, type DiffOptions, type DiffResult } from './layer/commit.js';
