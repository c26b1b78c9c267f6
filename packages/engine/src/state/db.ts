import { migrate, openDatabase, type Db, type Migration } from '@berth/layer-store';

export type { Db };

/** Engine-owned tables, prefixed `eng_`; layer-store keeps its own (`ls_`) in the same file. */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    up: `
      CREATE TABLE eng_images (
        id TEXT PRIMARY KEY,              -- config digest (Docker's image ID)
        config TEXT NOT NULL,             -- the image config JSON, as stored
        manifest_digest TEXT,             -- manifest this image came from (pull/load)
        manifest_media_type TEXT,
        layers TEXT NOT NULL,             -- JSON [{digest, mediaType, size, diffId}]
        chain_id TEXT,                    -- top chainID (null for an image with no layers)
        size INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        last_tag_time INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE eng_tags (
        ref TEXT PRIMARY KEY,             -- normalised name:tag or name@digest
        image_id TEXT NOT NULL REFERENCES eng_images (id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('tag', 'digest')),
        created_at INTEGER NOT NULL);
      CREATE INDEX eng_tags_image ON eng_tags (image_id);
      CREATE TABLE eng_containers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        image_ref TEXT NOT NULL,
        image_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        record TEXT NOT NULL);            -- JSON ContainerRecord
      CREATE INDEX eng_containers_image ON eng_containers (image_id);
      CREATE TABLE eng_volumes (
        name TEXT PRIMARY KEY,
        driver TEXT NOT NULL,
        created_at TEXT NOT NULL,
        labels TEXT NOT NULL,
        options TEXT,
        anonymous INTEGER NOT NULL);
      CREATE TABLE eng_networks (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        record TEXT NOT NULL);
    `,
  },
  {
    // Docker's image Parent: the image a commit (or a classic build step) started from.
    version: 2,
    up: `ALTER TABLE eng_images ADD COLUMN parent TEXT;`,
  },
  {
    // The bytes of the index a pull resolved its manifest from (containerd counts them in the CRI's image size).
    version: 3,
    up: `ALTER TABLE eng_images ADD COLUMN index_size INTEGER;`,
  },
];

/** The root's berth.db with the engine's tables migrated (owner `engine`, as every existing root records it). */
export function openEngineDb(root: string): Db {
  const db = openDatabase(root);
  migrate(db, 'engine', MIGRATIONS);
  return db;
}
