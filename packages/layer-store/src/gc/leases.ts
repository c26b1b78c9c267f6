import { randomUUID } from 'node:crypto';
import { NotFoundError } from '@berth/image-format';
import { layerStoreDb, type Db } from '../db/database.js';

export type LeaseResourceKind = 'content' | 'snapshot';

export interface Lease {
  id: string;
  createdAt: Date;
  expiresAt?: Date;
  resources: { kind: LeaseResourceKind; id: string }[];
}

/**
 * Leases protect what an operation in flight (a pull, an unpack, a commit) has written
 * but nothing references yet: garbage collection treats every resource of a live lease
 * as a root. Create the lease before writing; delete it once the result is referenced.
 */
export class LeaseManager {
  readonly db: Db;
  constructor(rootOrDb: string | Db) {
    this.db = layerStoreDb(rootOrDb).db;
  }

  create(opts: { id?: string; ttlMs?: number } = {}): string {
    const id = opts.id ?? randomUUID();
    const now = Date.now();
    this.db.prepare('INSERT INTO ls_leases (id, created_at, expires_at) VALUES (?, ?, ?)').run(id, now, opts.ttlMs ? now + opts.ttlMs : null);
    return id;
  }

  addResource(lease: string, kind: LeaseResourceKind, id: string): void {
    if (!this.db.prepare('SELECT 1 FROM ls_leases WHERE id = ?').get(lease)) throw new NotFoundError(`lease ${lease} not found`);
    this.db.prepare('INSERT OR IGNORE INTO ls_lease_resources (lease_id, kind, resource) VALUES (?, ?, ?)').run(lease, kind, id);
  }

  delete(lease: string): void {
    this.db.prepare('DELETE FROM ls_leases WHERE id = ?').run(lease);
  }

  list(): Lease[] {
    const leases = this.db.prepare('SELECT * FROM ls_leases ORDER BY created_at').all() as { id: string; created_at: number; expires_at: number | null }[];
    const res = this.db.prepare('SELECT kind, resource FROM ls_lease_resources WHERE lease_id = ? ORDER BY kind, resource');
    return leases.map((l) => ({
      id: l.id,
      createdAt: new Date(l.created_at),
      ...(l.expires_at !== null ? { expiresAt: new Date(l.expires_at) } : {}),
      resources: (res.all(l.id) as { kind: LeaseResourceKind; resource: string }[]).map((r) => ({ kind: r.kind, id: r.resource })),
    }));
  }

  /** Drops leases past their expiry (a pull that died without cleaning up). */
  expire(now = Date.now()): void {
    this.db.prepare('DELETE FROM ls_leases WHERE expires_at IS NOT NULL AND expires_at <= ?').run(now);
  }
}
