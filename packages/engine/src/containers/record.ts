import { ConflictError, InvalidArgumentError, NotFoundError } from '@berth/image-format';
import type { ContainerConfig, ContainerStateName, EndpointSettings, HostConfig, MountPoint } from '../docker-types.js';
import type { PublishedPort } from '../container-config.js';
import type { HealthState } from './health.js';
import type { Db } from '../state/db.js';

export interface ContainerRunState {
  status: ContainerStateName;
  pid: number;
  exitCode: number;
  error: string;
  oomKilled: boolean;
  startedAt: string;
  finishedAt: string;
  health?: HealthState;
}

/** Everything the engine keeps about a container, stored as JSON in eng_containers.record. */
export interface ContainerRecord {
  id: string;
  name: string;
  created: string;
  /** The reference the user gave (`busybox`), shown as `Image` in ps. */
  imageRef: string;
  imageId: string;
  platform: string;
  config: ContainerConfig;
  hostConfig: HostConfig;
  path: string;
  args: string[];
  state: ContainerRunState;
  restartCount: number;
  /** Stopped or killed by a user: restart policies hold off until the next start. */
  manuallyStopped: boolean;
  snapshotKey: string;
  /** Top chainID of the image (the snapshot's parent). */
  parentChainId: string | undefined;
  logPath: string;
  mounts: MountPoint[];
  /** Volumes created for this container that still get the image's content at first start. */
  copyUp: string[];
  anonymousVolumes: string[];
  networks: Record<string, EndpointSettings>;
  /** MAC addresses asked for, by network (the endpoints' MacAddress is the running interface's). */
  macs?: Record<string, string>;
  ports: PublishedPort[];
  sandboxKey: string;
  /** The driver holds a container instance for this record (created at start, deleted before the next). */
  runtimeCreated: boolean;
  /** The driver's ID for the current run: the container ID for the first, `<id>-<n>` after (a fresh ID per run keeps no stale driver state). */
  runtimeId?: string;
  /** Runs so far. */
  runs?: number;
  /** Created to hold namespaces for others (ContainerCreateOptions.namespaceHolder). */
  namespaceHolder?: boolean;
}

const NO_TIME = '0001-01-01T00:00:00Z';

/** The driver's ID of the record's current (or last) run. */
export function runtimeIdOf(r: ContainerRecord): string {
  return r.runtimeId ?? r.id;
}
export { NO_TIME };

/** The containers table: lookups by full ID, name or unique ID prefix, as Docker resolves them. */
export class ContainerTable {
  constructor(private readonly db: Db) {}

  insert(r: ContainerRecord): void {
    const owner = this.byName(r.name);
    if (owner) throw nameConflict(r.name, owner.id);
    try {
      this.db
        .prepare('INSERT INTO eng_containers (id, name, image_ref, image_id, created_at, record) VALUES (?, ?, ?, ?, ?, ?)')
        .run(r.id, r.name, r.imageRef, r.imageId, r.created, JSON.stringify(r));
    } catch (err) {
      if (String(err).includes('UNIQUE')) throw nameConflict(r.name, this.byName(r.name)?.id ?? '');
      throw err;
    }
  }

  save(r: ContainerRecord): void {
    this.db.prepare('UPDATE eng_containers SET name = ?, record = ? WHERE id = ?').run(r.name, JSON.stringify(r), r.id);
  }

  delete(id: string): void {
    this.db.prepare('DELETE FROM eng_containers WHERE id = ?').run(id);
  }

  get(id: string): ContainerRecord | undefined {
    const row = this.db.prepare('SELECT record FROM eng_containers WHERE id = ?').get(id) as { record: string } | undefined;
    return row ? (JSON.parse(row.record) as ContainerRecord) : undefined;
  }

  byName(name: string): ContainerRecord | undefined {
    const row = this.db.prepare('SELECT record FROM eng_containers WHERE name = ?').get(name.replace(/^\//, '')) as { record: string } | undefined;
    return row ? (JSON.parse(row.record) as ContainerRecord) : undefined;
  }

  /** Full ID, then exact name, then unique ID prefix. NotFound: `No such container: <ref>`. */
  resolve(ref: string): ContainerRecord {
    if (!ref) throw new NotFoundError('No such container: ' + ref);
    const byId = this.get(ref);
    if (byId) return byId;
    const byName = this.byName(ref);
    if (byName) return byName;
    if (/^[0-9a-f]+$/.test(ref)) {
      const rows = this.db.prepare(`SELECT record FROM eng_containers WHERE id >= ? AND id < ? LIMIT 2`).all(ref, ref + 'g') as { record: string }[];
      if (rows.length > 1) throw new InvalidArgumentError(`multiple IDs found with provided prefix: ${ref}`);
      if (rows.length === 1) return JSON.parse(rows[0]!.record) as ContainerRecord;
    }
    throw new NotFoundError(`No such container: ${ref}`);
  }

  all(): ContainerRecord[] {
    return (this.db.prepare('SELECT record FROM eng_containers ORDER BY created_at DESC').all() as { record: string }[]).map(
      (r) => JSON.parse(r.record) as ContainerRecord,
    );
  }

  usingImage(imageId: string): string[] {
    return (this.db.prepare('SELECT id FROM eng_containers WHERE image_id = ?').all(imageId) as { id: string }[]).map((r) => r.id);
  }
}

export function nameConflict(name: string, id: string): ConflictError {
  return new ConflictError(
    `Conflict. The container name "/${name}" is already in use by container "${id}". You have to remove (or rename) that container to be able to reuse that name.`,
  );
}
