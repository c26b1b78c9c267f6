import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

export type Db = Database.Database;

/** Engine-owned tables, prefixed `eng_`; layer-store keeps its own (`ls_`) in the same file. */
const MIGRATIONS: { version: number; up: string }[] = [
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
];

export function openEngineDb(root: string): Db {
  mkdirSync(root, { recursive: true });
  const db = new Database(join(root, 'berth.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    owner TEXT NOT NULL, version INTEGER NOT NULL, applied_at INTEGER NOT NULL,
    PRIMARY KEY (owner, version))`);
  const row = db.prepare(`SELECT MAX(version) AS v FROM schema_migrations WHERE owner = 'engine'`).get() as { v: number | null };
  const current = row.v ?? 0;
  for (const m of MIGRATIONS) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.up);
      db.prepare(`INSERT INTO schema_migrations (owner, version, applied_at) VALUES ('engine', ?, ?)`).run(m.version, Date.now());
    })();
  }
  return db;
}
