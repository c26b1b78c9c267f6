import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type {
  AttachedStdio,
  AttachOptions,
  ContainerSpec,
  ContainerState,
  ContainerStats,
  DeleteOptions,
  ExecProcess,
  ExecSpec,
  ExitStatus,
  LogEntry,
  LogOptions,
  OpenedRoot,
  ProcessTable,
  RuntimeDriver,
  RuntimeEvent,
  TerminalSize,
} from '@berth/runtime';
import { ConflictError } from '@berth/image-format';
import { readCgroupStats, readOomKills } from './cgroups/stats.js';
import { ContainerLogs } from './conmon/container-logs.js';
import { reopenLog } from './conmon/log-files.js';
import { attachContainer, resizeContainer } from './driver/attach.js';
import { createContainer } from './driver/bundle.js';
import { driverDirs, prepareHost, type DriverContext, type DriverDirs } from './driver/context.js';
import { execInContainer } from './driver/exec.js';
import { hostCounters, interfaceCounters, listProcesses, openContainerRoot } from './driver/host-view.js';
import {
  deleteContainer,
  killContainer,
  releaseContainerNetwork,
  setPaused,
  startContainer,
  stateWithPaused,
  waitContainer,
} from './driver/lifecycle.js';
import type { LinuxDriverOptions } from './driver/options.js';
import { ContainerRecords, now } from './driver/records.js';

export type { ContainerNetworker, LinuxDriverOptions } from './driver/options.js';

/**
 * Runs containers with an OCI runtime (crun or runc) under conmon. Every container
 * is a bundle directory plus a JSON record in the state dir, so a new LinuxDriver on
 * the same state dir (after a crash or restart) finds the containers, their logs and
 * exit codes; conmon keeps them running and records the exit code meanwhile.
 *
 * The work is in driver/: records (the on-disk state), bundle (create), lifecycle,
 * exec and attach; this class holds them together behind the RuntimeDriver contract.
 */
export class LinuxDriver implements RuntimeDriver {
  readonly name: string;
  /** Linux images under namespaces: the only isolation Linux has. */
  readonly platforms = [{ os: 'linux', isolation: 'default' }] as const;
  private readonly options: LinuxDriverOptions;
  private readonly dirs: DriverDirs;
  private readonly emitter = new EventEmitter();
  private ready?: Promise<DriverContext>;
  private ctx?: DriverContext;
  private exitWatcher?: FSWatcher;
  private readonly records: ContainerRecords;
  private readonly containerLogs = new ContainerLogs({
    running: async (c) => {
      const rec = await this.records.load(c.id).catch(() => undefined);
      return !!rec && rec.conmonPid === c.conmonPid && (await this.records.refresh(rec)).status !== 'stopped';
    },
    exited: (id, signal) => this.wait(id, { signal }),
  });

  constructor(options: LinuxDriverOptions) {
    this.options = options;
    this.dirs = driverDirs(options.stateDir);
    this.name = `linux/${(options.runtime ?? 'crun').split('/').pop() as string}`;
    this.emitter.setMaxListeners(0);
    this.records = new ContainerRecords(this.dirs.containersDir, this.dirs.exitDir, {
      oomKills: async (rec) => (this.ctx ? readOomKills(this.ctx.cgroups, rec.cgroupsPath) : 0),
      exited: (rec, code, oomKilled) => {
        if (oomKilled) this.emit('oom', rec.id);
        this.emit('exit', rec.id, code);
      },
    });
  }

  private init(): Promise<DriverContext> {
    this.ready ??= (async () => {
      const host = await prepareHost(this.options, this.dirs);
      this.ctx = {
        ...this.dirs,
        ...host,
        options: this.options,
        records: this.records,
        logs: this.containerLogs,
        emitter: this.emitter,
        emit: (type, id, exitCode) => this.emit(type, id, exitCode),
      };
      this.exitWatcher = watch(this.dirs.exitDir, (_event, file) => {
        if (file) this.emitter.emit('exit-file', String(file));
      });
      this.exitWatcher.unref();
      this.exitWatcher.on('error', () => undefined);
      // containers started by an earlier driver (berthd restarted) keep their log limits
      for (const id of await readdir(this.dirs.containersDir).catch(() => [] as string[])) {
        const rec = await this.records.load(id).catch(() => undefined);
        if (rec?.logLimits && rec.status === 'running') this.containerLogs.watch(rec);
      }
      return this.ctx;
    })();
    return this.ready;
  }

  private emit(type: RuntimeEvent['type'], id: string, exitCode?: number): void {
    const ev: RuntimeEvent = { type, id, time: now() };
    if (exitCode !== undefined) ev.exitCode = exitCode;
    this.emitter.emit('event', ev);
  }

  async create(spec: ContainerSpec): Promise<ContainerState> {
    return createContainer(await this.init(), spec);
  }

  async start(id: string): Promise<void> {
    await startContainer(await this.init(), id);
  }

  async state(id: string): Promise<ContainerState> {
    const ctx = await this.init();
    return stateWithPaused(ctx, await this.records.current(id));
  }

  async pause(id: string): Promise<void> {
    await setPaused(await this.init(), id, true);
  }

  async unpause(id: string): Promise<void> {
    await setPaused(await this.init(), id, false);
  }

  async list(): Promise<ContainerState[]> {
    const ctx = await this.init();
    const out: ContainerState[] = [];
    for (const id of await readdir(this.dirs.containersDir)) {
      try {
        out.push(await stateWithPaused(ctx, await this.records.current(id)));
      } catch {
        // being created or deleted
      }
    }
    return out;
  }

  async kill(id: string, signal: string | number = 'SIGKILL'): Promise<void> {
    await killContainer(await this.init(), id, signal);
  }

  async wait(id: string, options: { signal?: AbortSignal } = {}): Promise<ExitStatus> {
    return waitContainer(await this.init(), id, options);
  }

  async delete(id: string, options: DeleteOptions = {}): Promise<void> {
    await deleteContainer(await this.init(), id, options);
  }

  async releaseNetwork(id: string): Promise<void> {
    await releaseContainerNetwork(await this.init(), id);
  }

  async stats(id: string): Promise<ContainerStats> {
    const ctx = await this.init();
    const rec = await this.records.current(id);
    if (rec.status !== 'running') throw new ConflictError(`container ${id} is not running`);
    const [s, host, networks] = await Promise.all([readCgroupStats(ctx.cgroups, rec.cgroupsPath), hostCounters(), interfaceCounters(rec.pid)]);
    return { id, time: now(), cgroup: s.cgroup, cpu: s.cpu, memory: s.memory, pids: s.pids, host, ...(networks ? { networks } : {}) };
  }

  async processes(id: string, options: { psArgs?: string } = {}): Promise<ProcessTable> {
    return listProcesses(await this.init(), id, options.psArgs);
  }

  async openRoot(id: string): Promise<OpenedRoot> {
    return openContainerRoot(await this.init(), id);
  }

  async *logs(id: string, options: LogOptions = {}): AsyncIterable<LogEntry> {
    await this.init();
    yield* this.containerLogs.read(await this.records.load(id), options);
  }

  async *events(options: { signal?: AbortSignal } = {}): AsyncIterable<RuntimeEvent> {
    await this.init();
    const queue: RuntimeEvent[] = [];
    let wake: (() => void) | undefined;
    const onEvent = (ev: RuntimeEvent) => {
      queue.push(ev);
      wake?.();
    };
    const onAbort = () => wake?.();
    this.emitter.on('event', onEvent);
    options.signal?.addEventListener('abort', onAbort);
    try {
      while (!options.signal?.aborted) {
        const ev = queue.shift();
        if (ev) {
          yield ev;
          continue;
        }
        await new Promise<void>((r) => {
          wake = r;
        });
        wake = undefined;
      }
    } finally {
      this.emitter.off('event', onEvent);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  async resize(id: string, size: TerminalSize): Promise<void> {
    await resizeContainer(await this.init(), id, size);
  }

  /** The CRI's ReopenContainerLog: conmon creates the log afresh at its path (kubelet has renamed it). */
  /** The OCI config the container was created with (its bundle's config.json), as the runtime got it. */
  async ociSpec(id: string): Promise<unknown> {
    const rec = await (await this.init()).records.load(id);
    return JSON.parse(await readFile(join(rec.bundle, 'config.json'), 'utf8')) as unknown;
  }

  async reopenLog(id: string): Promise<void> {
    const rec = await (await this.init()).records.current(id);
    if (rec.status === 'stopped' || !(await reopenLog(join(rec.bundle, 'ctl'), rec.logPath))) throw new ConflictError(`container ${id} is not running`);
  }

  async attach(id: string, options: AttachOptions = {}): Promise<AttachedStdio> {
    return attachContainer(await this.init(), id, options);
  }

  async exec(id: string, spec: ExecSpec): Promise<ExecProcess> {
    return execInContainer(await this.init(), id, spec);
  }

  async close(): Promise<void> {
    this.exitWatcher?.close();
    this.containerLogs.close();
    this.emitter.removeAllListeners('event');
  }
}
