import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

/** The better-sqlite3 handle type shared by every package that keeps tables in berth.db. */
export type Db = Database.Database;

/** One step of a package's schema; versions start at 1 and never change once released. */
export interface Migration {
  version: number;
  up: string;
}

/**
 * Opens `<root>/berth.db` in WAL mode. One database per root: every package keeps its
 * own tables in it and migrates them with `migrate(db, owner, ...)`.
 */
export function openDatabase(root: string): Db {
  mkdirSync(root, { recursive: true });
  const db = new Database(join(root, 'berth.db'));
  db.pragma('journal_mode = WAL');
  // NORMAL is durable across process crashes in WAL mode; only power loss can lose the
  // last transactions, and blobs on disk are reconciled with the tables at open.
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  cacheStatements(db);
  return db;
}

/**
 * Makes `db.prepare` answer the same statement for the same SQL: the tables' methods
 * prepare on every call, and compiling the SQL cost more than running it (a cached
 * `docker build` spent ~5 ms of CPU in prepare). Statements are only ever run to
 * completion here (`get`/`all`/`run`, no `iterate` or mode changes such as `pluck`), so
 * one shared statement per text is safe; the cache is bounded in case SQL is ever built
 * from values.
 */
function cacheStatements(db: Db): void {
  const prepare = db.prepare.bind(db);
  const cache = new Map<string, Database.Statement>();
  db.prepare = ((sql: string) => {
    let st = cache.get(sql);
    if (!st) {
      if (cache.size >= 512) cache.clear();
      st = prepare(sql);
      cache.set(sql, st);
    }
    return st;
  }) as Db['prepare'];
}

/**
 * Applies the owner's migrations newer than what `schema_migrations` records, each in
 * its own transaction, so a crash leaves the schema at one version or the next.
 */
export function migrate(db: Db, owner: string, migrations: readonly Migration[]): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    owner TEXT NOT NULL, version INTEGER NOT NULL, applied_at INTEGER NOT NULL,
    PRIMARY KEY (owner, version))`);
  const row = db
    .prepare('SELECT MAX(version) AS v FROM schema_migrations WHERE owner = ?')
    .get(owner) as { v: number | null };
  const current = row.v ?? 0;
  const record = db.prepare('INSERT INTO schema_migrations (owner, version, applied_at) VALUES (?, ?, ?)');
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.up);
      record.run(owner, m.version, Date.now());
    })();
  }
}

/** layer-store's own tables. */
export const LAYER_STORE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    up: `
      CREATE TABLE ls_blobs (
        digest TEXT PRIMARY KEY, size INTEGER NOT NULL,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
      CREATE TABLE ls_labels (
        digest TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (digest, key));
      CREATE TABLE ls_layers (
        chain_id TEXT PRIMARY KEY, diff_id TEXT NOT NULL, parent_chain_id TEXT,
        blob_digest TEXT, size INTEGER NOT NULL, created_at INTEGER NOT NULL);
      CREATE TABLE ls_snapshots (
        snapshotter TEXT NOT NULL, key TEXT NOT NULL, id INTEGER NOT NULL,
        parent TEXT, kind TEXT NOT NULL CHECK (kind IN ('active', 'committed', 'view')),
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, labels TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (snapshotter, key));
      CREATE INDEX ls_snapshots_parent ON ls_snapshots (snapshotter, parent);
      CREATE TABLE ls_snapshot_ids (snapshotter TEXT PRIMARY KEY, next_id INTEGER NOT NULL);
      CREATE TABLE ls_leases (
        id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, expires_at INTEGER);
      CREATE TABLE ls_lease_resources (
        lease_id TEXT NOT NULL REFERENCES ls_leases (id) ON DELETE CASCADE,
        kind TEXT NOT NULL, resource TEXT NOT NULL,
        PRIMARY KEY (lease_id, kind, resource));
    `,
  },
  {
    // The lease tables of a mark-and-sweep collector nothing used: the engine deletes
    // blobs and snapshots by reference from its image table.
    version: 2,
    up: `DROP TABLE ls_lease_resources; DROP TABLE ls_leases;`,
  },
];

/** Opens (or adopts) the root's database and brings layer-store's tables up to date. */
export function layerStoreDb(rootOrDb: string | Db): { db: Db; owned: boolean } {
  const owned = typeof rootOrDb === 'string';
  const db = typeof rootOrDb === 'string' ? openDatabase(rootOrDb) : rootOrDb;
  migrate(db, '@berth/layer-store', LAYER_STORE_MIGRATIONS);
  return { db, owned };
}
