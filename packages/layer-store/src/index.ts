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
