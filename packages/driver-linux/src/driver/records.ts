import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConflictError, NotFoundError } from '@berth/image-format';
import { isValidContainerId, type ContainerState, type PortMapping } from '@berth/runtime';

/** Persisted per container in `<stateDir>/containers/<id>/state.json`. */
export interface ContainerRecord {
  id: string;
  status: 'created' | 'running' | 'stopped';
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  oomKilled?: boolean;
  pid: number;
  conmonPid: number;
  bundle: string;
  rootfs: string;
  /** Rootfs mounted by the driver from snapshotter mounts (unmount on delete). */
  mountedRootfs: boolean;
  logPath: string;
  /** The spec named the log: it is the caller's, delete() leaves it. */
  callerLog?: boolean;
  logLimits?: { maxSize: number; maxFiles: number };
  cgroupsPath: string;
  labels: Record<string, string>;
  tty: boolean;
  stdin: boolean;
  keepStdinOpen?: boolean;
  networked: boolean;
  /** The stopped run gave its network back (releaseNetwork): it cannot run again. */
  networkReleased?: boolean;
  /** Published ports as the network manager set them up (host port 0 resolved). */
  ports?: PortMapping[];
  /** The container process' env, the base of exec env. */
  env: string[];
  stopSignal?: string;
  /** The driver's own pause holds the namespaces (namespace-holder.ts): no runtime state, rootfs or log. */
  pause?: boolean;
}

/** The container's hostname: the spec's, else its short id (at most 63 characters, the kernel's limit). */
export function containerHostname(spec: { id: string; hostname?: string }): string {
  return (spec.hostname || spec.id.slice(0, 12)).slice(0, 63);
}

export function now(): string {
  return new Date().toISOString();
}

/** Whether `pid` runs (a zombie waiting to be reaped counts as gone). */
export function pidAlive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** What the records need to know when a container's exit is recorded. */
interface ExitObserver {
  /** OOM kills the container's cgroup counted (kept until the runtime deletes it). */
  oomKills(rec: ContainerRecord): Promise<number>;
  /** The exit is saved: tell whoever listens. */
  exited(rec: ContainerRecord, code: number, oomKilled: boolean): void;
}

/**
 * The on-disk container records: one JSON file per container, and the exit files conmon
 * writes. Read and written synchronously: each is a few hundred bytes in the page cache,
 * which costs microseconds, where fs.promises' open, stat, read and close are four trips
 * through the thread pool (a millisecond under load), several times in every start. A record says what the driver last knew; refresh() brings it up to date with
 * what conmon and the kernel say.
 */
export class ContainerRecords {
  /**
   * Exits being recorded, so that concurrent refreshes emit one exit event. Keyed by
   * run (id and conmon pid), never by id alone: an id deleted and created again (or
   * restarted) is a new run whose state must not come from the old one's exit.
   */
  private readonly finalizing = new Map<string, Promise<ContainerRecord>>();

  constructor(
    readonly containersDir: string,
    private readonly exitDir: string,
    private readonly observer: ExitObserver,
  ) {}

  /** The container's directory: its bundle and its record. */
  dir(id: string): string {
    return join(this.containersDir, id);
  }

  /** Makes the container's directory (0711: a user-namespaced root must reach its bundle); Conflict if the id is taken. */
  async makeDir(id: string): Promise<string> {
    const dir = this.dir(id);
    try {
      await mkdir(dir, { mode: 0o711 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new ConflictError(`container ${id} already exists`);
      throw err;
    }
    return dir;
  }

  async load(id: string): Promise<ContainerRecord> {
    if (!isValidContainerId(id)) throw new NotFoundError(`no such container: ${id}`);
    try {
      return JSON.parse(readFileSync(join(this.dir(id), 'state.json'), 'utf8')) as ContainerRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`no such container: ${id}`);
      throw err;
    }
  }

  /** The record as it is now (load, then refresh). */
  async current(id: string): Promise<ContainerRecord> {
    return this.refresh(await this.load(id));
  }

  async save(rec: ContainerRecord): Promise<void> {
    const file = join(this.dir(rec.id), 'state.json');
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
    writeFileSync(tmp, JSON.stringify(rec));
    renameSync(tmp, file);
  }

  /** The exit code conmon recorded, if the container has exited. */
  private async exitFile(id: string): Promise<{ code: number; time: string } | undefined> {
    try {
      const path = join(this.exitDir, id);
      const text = readFileSync(path, 'utf8').trim();
      if (text === '') return undefined;
      const st = statSync(path);
      return { code: Number(text), time: st.mtime.toISOString() };
    } catch {
      return undefined;
    }
  }

  /** Brings the record up to date with what conmon and the kernel say. */
  async refresh(rec: ContainerRecord): Promise<ContainerRecord> {
    if (rec.status === 'stopped') return rec;
    const pending = this.finalizing.get(runKey(rec));
    if (pending) return pending;
    const exit = await this.exitFile(rec.id);
    if (exit) return this.finalize(rec, exit.code, exit.time);
    if (!pidAlive(rec.conmonPid)) {
      // conmon is gone without an exit file: the monitor died (or the host rebooted)
      const again = await this.exitFile(rec.id);
      if (again) return this.finalize(rec, again.code, again.time);
      if (!pidAlive(rec.pid)) return this.finalize(rec, 255, now());
    }
    return rec;
  }

  private finalize(rec: ContainerRecord, code: number, time: string): Promise<ContainerRecord> {
    const key = runKey(rec);
    const existing = this.finalizing.get(key);
    if (existing) return existing;
    const p = (async () => {
      let oom = false;
      try {
        await stat(join(rec.bundle, 'persist', 'oom'));
        oom = true;
      } catch {
        // conmon saw no OOM; ask the cgroup (kept until the runtime deletes it)
        oom = (await this.observer.oomKills(rec).catch(() => 0)) > 0;
      }
      const latest = await this.load(rec.id).catch(() => rec);
      // deleted and created again meanwhile: that run is not the one that exited
      if (latest.conmonPid !== rec.conmonPid) return { ...rec, status: 'stopped' as const, exitCode: code, oomKilled: oom, finishedAt: time };
      if (latest.status === 'stopped') return latest;
      const done: ContainerRecord = { ...latest, status: 'stopped', exitCode: code, oomKilled: oom, finishedAt: time };
      await this.save(done).catch(() => undefined);
      this.observer.exited(rec, code, oom);
      return done;
    })();
    this.finalizing.set(key, p);
    // once saved, the record itself says stopped; a refresh that read it before the save
    // and comes late finds `latest` stopped in finalize and emits nothing
    void p.finally(() => this.finalizing.delete(key)).catch(() => undefined);
    return p;
  }
}

function runKey(rec: ContainerRecord): string {
  return `${rec.id}/${rec.conmonPid}`;
}

/** The runtime contract's view of a record (paused comes from the freezer, not from here). */
export function toState(rec: ContainerRecord): ContainerState {
  const st: ContainerState = { id: rec.id, status: rec.status, createdAt: rec.createdAt, labels: rec.labels, logPath: rec.logPath };
  if (rec.status === 'running') st.pid = rec.pid;
  if (rec.startedAt) st.startedAt = rec.startedAt;
  if (rec.ports?.length) st.ports = rec.ports;
  if (rec.status === 'stopped') {
    st.exitCode = rec.exitCode ?? 255;
    st.oomKilled = rec.oomKilled === true;
    if (rec.finishedAt) st.finishedAt = rec.finishedAt;
  }
  return st;
}
