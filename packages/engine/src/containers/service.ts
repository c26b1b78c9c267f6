import type { Readable } from 'node:stream';
import { InvalidArgumentError } from '@berth/image-format';
import { NAMESPACE_LABEL } from '../namespaces.js';
import type {
  ContainerCreateBody,
  ContainerCreateResponse,
  ContainerInspect,
  ContainerStats,
  ContainerSummary,
  ContainerTop,
  ContainerWaitResponse,
  ExecCreateBody,
  ExecInspect,
  Filters,
  HostConfig,
  WaitCondition,
} from '../docker-types.js';
import { FilterSet } from '../filters.js';
import { checkContainerName } from '../names.js';
import type { ArchivePathStat, AttachOptions, AttachSession, ContainerCreateOptions, ContainerService, ExecStartOptions, LogsOptions, StopOptions } from '../services.js';
import { checkRestartPolicy } from '../container-config.js';
import { AttachSessions } from './attach.js';
import { ContainerContext, type ContainerDeps } from './context.js';
import { createContainer } from './create.js';
import { Execs } from './exec.js';
import { ContainerFilesystem } from './filesystem.js';
import * as fmt from './format.js';
import { Lifecycle, volumeUsers } from './lifecycle.js';
import { linkNames, removeLink } from './links.js';
import { prune } from './prune.js';
import { reconcile } from './reconcile.js';
import { nameConflict } from './record.js';
import { containerStats } from './stats.js';
import { top } from './top.js';

export type { ContainerDeps, ImageLookup, NetworkLookup, ResolvedImage } from './context.js';

/**
 * The engine's ContainerService (what berthd's routes call): one object over the parts
 * that do the work, each in its own file.
 */
export class Containers implements ContainerService {
  private readonly ctx: ContainerContext;
  private readonly attachments: AttachSessions;
  private readonly execs: Execs;
  private readonly filesystem: ContainerFilesystem;
  private readonly lifecycle: Lifecycle;

  constructor(deps: ContainerDeps) {
    this.ctx = new ContainerContext(deps);
    this.attachments = new AttachSessions(this.ctx);
    this.execs = new Execs(this.ctx);
    this.filesystem = new ContainerFilesystem(this.ctx);
    this.lifecycle = new Lifecycle(this.ctx, { attach: this.attachments, execs: this.execs, filesystem: this.filesystem });
  }

  create(body: ContainerCreateBody, opts: ContainerCreateOptions = {}): Promise<ContainerCreateResponse> {
    return createContainer(this.ctx, body, opts);
  }

  start(ref: string): Promise<{ started: boolean }> {
    return this.lifecycle.start(ref);
  }

  stop(ref: string, opts: StopOptions = {}): Promise<{ stopped: boolean }> {
    return this.lifecycle.stop(ref, opts);
  }

  kill(ref: string, opts: { signal?: string } = {}): Promise<void> {
    return this.lifecycle.kill(ref, opts);
  }

  restart(ref: string, opts: StopOptions = {}): Promise<void> {
    return this.lifecycle.restart(ref, opts);
  }

  pause(ref: string): Promise<void> {
    return this.lifecycle.pause(ref);
  }

  unpause(ref: string): Promise<void> {
    return this.lifecycle.unpause(ref);
  }

  async remove(ref: string, opts: { force?: boolean; volumes?: boolean; link?: boolean; releaseInBackground?: boolean } = {}): Promise<void> {
    if (opts.link) {
      const parent = removeLink(ref, (n) => this.ctx.table.byName(n));
      this.ctx.table.save(parent);
      return;
    }
    const { releaseInBackground, ...rest } = opts;
    await this.lifecycle.remove(ref, rest, { releaseInBackground: releaseInBackground === true });
  }

  wait(ref: string, condition: WaitCondition = 'not-running', signal?: AbortSignal): Promise<ContainerWaitResponse> {
    return this.lifecycle.wait(ref, condition, signal);
  }

  logs(ref: string, opts: LogsOptions = {}): Promise<Readable> {
    return this.attachments.logs(ref, opts);
  }

  attach(ref: string, opts: AttachOptions = {}): Promise<AttachSession> {
    return this.attachments.attach(ref, opts);
  }

  resize(ref: string, size: { h: number; w: number }): Promise<void> {
    return this.attachments.resize(ref, size);
  }

  execCreate(ref: string, body: ExecCreateBody): Promise<{ Id: string }> {
    return this.execs.create(ref, body);
  }

  execStart(execId: string, opts: ExecStartOptions = {}): Promise<AttachSession | undefined> {
    return this.execs.start(execId, opts);
  }

  execInspect(execId: string): Promise<ExecInspect> {
    return this.execs.inspect(execId);
  }

  execResize(execId: string, size: { h: number; w: number }): Promise<void> {
    return this.execs.resize(execId, size);
  }

  async rename(ref: string, newName: string): Promise<void> {
    const { table } = this.ctx;
    const r = table.resolve(ref);
    const name = checkContainerName(newName);
    if (name === r.name) throw new InvalidArgumentError(`Renaming a container with the same name as its current name`);
    const owner = table.byName(name);
    if (owner) throw nameConflict(name, owner.id);
    const old = r.name;
    r.name = name;
    table.save(r);
    this.ctx.emit(r, 'rename', { oldName: '/' + old });
  }

  async update(ref: string, body: Partial<HostConfig>): Promise<{ Warnings: string[] }> {
    const r = this.ctx.table.resolve(ref);
    const warnings: string[] = [];
    const next: HostConfig = { ...r.hostConfig };
    if (body.RestartPolicy && (body.RestartPolicy.Name !== undefined || body.RestartPolicy.MaximumRetryCount !== undefined)) {
      next.RestartPolicy = { Name: body.RestartPolicy.Name ?? '', MaximumRetryCount: body.RestartPolicy.MaximumRetryCount ?? 0 };
      checkRestartPolicy(next);
    }
    let resources = false;
    for (const k of ['Memory', 'MemorySwap', 'MemoryReservation', 'NanoCpus', 'CpuShares', 'CpuQuota', 'CpuPeriod', 'PidsLimit', 'CpusetCpus', 'CpusetMems'] as const) {
      const v = body[k];
      if (v === undefined || v === null || v === 0 || v === '') continue;
      (next as Record<string, unknown>)[k] = v;
      resources = true;
    }
    if (resources && (r.state.status === 'running' || r.state.status === 'paused')) {
      warnings.push('resource limits were stored and apply from the next start of the container');
    }
    r.hostConfig = next;
    this.ctx.table.save(r);
    this.ctx.emit(r, 'update');
    return { Warnings: warnings };
  }

  async inspect(ref: string, opts: { size?: boolean } = {}): Promise<ContainerInspect> {
    const { table, deps } = this.ctx;
    const r = table.resolve(ref);
    const sizeRw = opts.size ? await deps.snapshots.usage(r.snapshotKey).catch(() => 0) : undefined;
    return fmt.inspect(r, { execIds: this.execs.idsOf(r.id), driverName: deps.storageDriverName, rootDir: deps.root, ...(sizeRw !== undefined ? { sizeRw } : {}) });
  }

  async writableLayer(ref: string): Promise<{ bytes: number; inodes: number }> {
    const { table, deps } = this.ctx;
    const key = table.resolve(ref).snapshotKey;
    if (deps.snapshots.diskUsage) return deps.snapshots.diskUsage(key);
    return { bytes: await deps.snapshots.usage(key), inodes: 0 };
  }

  async list(opts: { all?: boolean; limit?: number; size?: boolean; filters?: Filters } = {}): Promise<ContainerSummary[]> {
    const { table, deps } = this.ctx;
    const f = new FilterSet(opts.filters, ['id', 'name', 'label', 'status', 'ancestor', 'exited', 'before', 'since', 'volume', 'network', 'health', 'isolation', 'is-task', 'publish', 'expose']);
    for (const s of f.get('status')) {
      if (!['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'].includes(s)) {
        throw new InvalidArgumentError(`invalid filter 'status=${s}'`);
      }
    }
    let rows = table.all();
    const all = opts.all || f.has('status') || f.has('exited') || (opts.limit ?? 0) > 0;
    const created = (ref: string): number => Date.parse(table.resolve(ref).created);
    const ancestorIds = new Set<string>();
    for (const a of f.get('ancestor')) {
      try {
        ancestorIds.add(deps.images.resolve(a).id);
      } catch {
        // an unknown ancestor matches nothing
      }
    }
    rows = rows.filter((r) => {
      if (!all && r.state.status !== 'running' && r.state.status !== 'paused' && r.state.status !== 'restarting') return false;
      // another namespace's containers (the CRI's k8s.io) show only when a label filter asks
      if (r.config.Labels?.[NAMESPACE_LABEL] && !f.has('label')) return false;
      return (
        f.matchAny('id', (v) => r.id.startsWith(v)) &&
        f.matchAny('name', (v) => new RegExp(v.replace(/^\//, '')).test(r.name)) &&
        f.matchLabels('label', r.config.Labels) &&
        f.matchAny('status', (v) => v === r.state.status) &&
        f.matchAny('ancestor', () => ancestorIds.has(r.imageId)) &&
        f.matchAny('exited', (v) => r.state.status === 'exited' && Number(v) === r.state.exitCode) &&
        f.matchAny('before', (v) => Date.parse(r.created) < created(v)) &&
        f.matchAny('since', (v) => Date.parse(r.created) > created(v)) &&
        f.matchAny('volume', (v) => r.mounts.some((m) => m.Name === v || m.Destination === v || m.Source === v)) &&
        f.matchAny('network', (v) => Object.entries(r.networks).some(([n, ep]) => n === v || ep.NetworkID === v)) &&
        f.matchAny('health', (v) => (r.state.health?.Status ?? 'none') === v)
      );
    });
    if (opts.limit && opts.limit > 0) rows = rows.slice(0, opts.limit);
    const out: ContainerSummary[] = [];
    const linked = linkNames(table.all());
    for (const r of rows) {
      const s = fmt.summary(r, deps.images.displayName(r.imageRef, r.imageId));
      // as Docker: the names a container has through others' links come first
      const viaLinks = linked.get(r.name);
      if (viaLinks) s.Names = [...viaLinks, ...s.Names];
      if (opts.size) s.SizeRw = await deps.snapshots.usage(r.snapshotKey).catch(() => 0);
      out.push(s);
    }
    return out;
  }

  prune(opts: { filters?: Filters } = {}): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }> {
    return prune(this.ctx, (id) => this.lifecycle.remove(id), opts);
  }

  stats(ref: string, opts: { stream?: boolean; signal?: AbortSignal } = {}): Promise<ContainerStats | Readable> {
    return containerStats(this.ctx, ref, opts);
  }

  export(ref: string): Promise<Readable> {
    return this.filesystem.export(ref);
  }

  top(ref: string, opts: { psArgs?: string } = {}): Promise<ContainerTop> {
    return top(this.ctx, ref, opts);
  }

  changes(ref: string): Promise<{ Path: string; Kind: 0 | 1 | 2 }[]> {
    return this.filesystem.changes(ref);
  }

  archiveStat(ref: string, path: string): Promise<ArchivePathStat> {
    return this.filesystem.archiveStat(ref, path);
  }

  getArchive(ref: string, path: string): Promise<{ stat: ArchivePathStat; tar: Readable }> {
    return this.filesystem.getArchive(ref, path);
  }

  putArchive(ref: string, path: string, tar: Readable, opts: { noOverwriteDirNonDir?: boolean; copyUIDGID?: boolean } = {}): Promise<void> {
    return this.filesystem.putArchive(ref, path, tar, opts);
  }

  // ---------- engine-internal ----------

  /** Container IDs that mount volume `name`. */
  volumeUsers(name: string): string[] {
    return volumeUsers(this.ctx, name);
  }

  /** At open: adopts or settles the runs the driver has, then applies restart policies (see reconcile.ts). */
  reconcile(applyRestart: boolean): Promise<void> {
    return reconcile(this.ctx, this.lifecycle, this.execs, applyRestart);
  }

  /** Settles when every auto-removed container's resources are released. */
  async released(): Promise<void> {
    await this.ctx.deps.releases?.idle();
  }

  close(): void {
    this.ctx.closed = true;
    this.lifecycle.close();
  }
}
