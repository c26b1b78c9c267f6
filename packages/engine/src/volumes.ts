import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ConflictError, InvalidArgumentError, NotFoundError } from '@berth/image-format';
import type { Filters, Volume, VolumeCreateBody } from './docker-types.js';
import type { VolumeService } from './services.js';
import type { Db } from './state/db.js';
import type { EventBus } from './events.js';
import { FilterSet } from './filters.js';
import { checkVolumeName } from './names.js';
import { diskUsage } from './fsutil.js';

interface VolumeRow {
  name: string;
  driver: string;
  created_at: string;
  labels: string;
  options: string | null;
  anonymous: number;
}

/** Docker's `local` volume driver: a directory `<root>/volumes/<name>/_data`. */
export class LocalVolumes implements VolumeService {
  constructor(
    private readonly db: Db,
    private readonly dir: string,
    private readonly events: EventBus,
    /** IDs of containers that mount the volume. */
    private readonly usedBy: (name: string) => string[],
  ) {}

  mountpoint(name: string): string {
    return join(this.dir, name, '_data');
  }

  async create(body: VolumeCreateBody = {}, anonymous = false): Promise<Volume> {
    const driver = body.Driver || 'local';
    if (driver !== 'local') throw new NotFoundError(`error looking up volume plugin ${driver}: plugin "${driver}" not found`);
    const isAnon = anonymous || !body.Name;
    const name = body.Name ? checkVolumeName(body.Name) : randomBytes(32).toString('hex');
    for (const k of Object.keys(body.DriverOpts ?? {})) {
      if (!['type', 'device', 'o', 'size'].includes(k)) throw new InvalidArgumentError(`invalid option key: "${k}"`);
    }
    const existing = this.row(name);
    if (existing) {
      if (existing.driver !== driver) throw new ConflictError(`volume name ${name} already in use by driver ${existing.driver}`);
      return this.toVolume(existing);
    }
    await mkdir(this.mountpoint(name), { recursive: true, mode: 0o755 });
    const labels = { ...(body.Labels ?? {}) };
    if (isAnon && !body.Name) labels['com.docker.volume.anonymous'] = '';
    this.db
      .prepare('INSERT OR IGNORE INTO eng_volumes (name, driver, created_at, labels, options, anonymous) VALUES (?, ?, ?, ?, ?, ?)')
      .run(name, driver, new Date().toISOString(), JSON.stringify(labels), body.DriverOpts ? JSON.stringify(body.DriverOpts) : null, isAnon ? 1 : 0);
    this.events.emit('volume', 'create', name, { driver });
    return this.toVolume(this.row(name)!);
  }

  /** The volume, creating it when missing (how `-v name:/x` behaves). */
  async ensure(name: string | undefined, labels?: Record<string, string>): Promise<{ volume: Volume; created: boolean }> {
    if (name) {
      const row = this.row(name);
      if (row) return { volume: this.toVolume(row), created: false };
    }
    return { volume: await this.create({ ...(name ? { Name: name } : {}), ...(labels ? { Labels: labels } : {}) }, !name), created: true };
  }

  async list(opts: { filters?: Filters } = {}): Promise<{ Volumes: Volume[]; Warnings: string[] }> {
    const f = new FilterSet(opts.filters, ['name', 'label', 'dangling', 'driver']);
    const rows = this.db.prepare('SELECT * FROM eng_volumes ORDER BY name').all() as VolumeRow[];
    const dangling = f.bool('dangling');
    const out = rows
      .map((r) => this.toVolume(r))
      .filter(
        (v) =>
          f.matchAny('name', (n) => v.Name.includes(n)) &&
          f.matchAny('driver', (d) => v.Driver === d) &&
          f.matchLabels('label', v.Labels) &&
          (dangling === undefined || dangling === (this.usedBy(v.Name).length === 0)),
      );
    return { Volumes: out, Warnings: [] };
  }

  async inspect(name: string): Promise<Volume> {
    const row = this.row(name);
    if (!row) throw new NotFoundError(`get ${name}: no such volume`);
    return this.toVolume(row);
  }

  async remove(name: string, opts: { force?: boolean } = {}): Promise<void> {
    const row = this.row(name);
    if (!row) {
      if (opts.force) return;
      throw new NotFoundError(`get ${name}: no such volume`);
    }
    const users = this.usedBy(name);
    if (users.length > 0) throw new ConflictError(`remove ${name}: volume is in use - [${users.join(', ')}]`);
    this.db.prepare('DELETE FROM eng_volumes WHERE name = ?').run(name);
    await rm(join(this.dir, name), { recursive: true, force: true });
    this.events.emit('volume', 'destroy', name, { driver: row.driver });
  }

  async prune(opts: { filters?: Filters } = {}): Promise<{ VolumesDeleted: string[]; SpaceReclaimed: number }> {
    const f = new FilterSet(opts.filters, ['label', 'all']);
    const all = f.bool('all') ?? false;
    const rows = this.db.prepare('SELECT * FROM eng_volumes').all() as VolumeRow[];
    const deleted: string[] = [];
    let space = 0;
    for (const r of rows) {
      if (!all && r.anonymous === 0) continue;
      if (!f.matchLabels('label', JSON.parse(r.labels) as Record<string, string>)) continue;
      if (this.usedBy(r.name).length > 0) continue;
      space += await diskUsage(join(this.dir, r.name));
      await this.remove(r.name);
      deleted.push(r.name);
    }
    return { VolumesDeleted: deleted, SpaceReclaimed: space };
  }

  /** True when the volume's directory has no entries (copy-up only fills empty volumes). */
  async isEmpty(name: string): Promise<boolean> {
    try {
      return (await readdir(this.mountpoint(name))).length === 0;
    } catch {
      return true;
    }
  }

  isAnonymous(name: string): boolean {
    return this.row(name)?.anonymous === 1;
  }

  async usage(name: string): Promise<number> {
    return diskUsage(this.mountpoint(name));
  }

  private row(name: string): VolumeRow | undefined {
    return this.db.prepare('SELECT * FROM eng_volumes WHERE name = ?').get(name) as VolumeRow | undefined;
  }

  private toVolume(r: VolumeRow): Volume {
    return {
      Name: r.name,
      Driver: r.driver,
      Mountpoint: this.mountpoint(r.name),
      CreatedAt: r.created_at.replace(/\.\d+Z$/, 'Z'),
      Labels: JSON.parse(r.labels) as Record<string, string>,
      Scope: 'local',
      Options: r.options ? (JSON.parse(r.options) as Record<string, string>) : null,
    };
  }
}
