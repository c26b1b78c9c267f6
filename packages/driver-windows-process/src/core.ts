/**
 * The RuntimeDriver both Windows drivers share: containers as HCS compute systems, the
 * init process and execs as HCS processes, output into a FileLog, HCN networking. What
 * differs between process isolation and Hyper-V (how the compute system is made, what
 * pause freezes, what teardown removes) is a Sandbox the subclass supplies.
 *
 * HCS cannot start a stopped compute system again, so each start() after the first
 * makes the system anew from the same sandbox (as moby does on Windows).
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import { ConflictError, InvalidArgumentError, NotFoundError, UnsupportedError } from '@berth/image-format';
import { execProcessParameters, initProcessParameters, isHcsError, type GuestOs, type HcsApi, type HcsProcess, type HcsSystem, type ProcessParameters } from '@berth/hcs';
import {
  isValidContainerId,
  signalNumber,
  type AttachedStdio,
  type AttachOptions,
  type ContainerSpec,
  type ContainerState,
  type ContainerStats,
  type DeleteOptions,
  type DriverPlatform,
  type ExecProcess,
  type ExecSpec,
  type ExitStatus,
  type RestoredExec,
  type LogEntry,
  type LogOptions,
  type OpenedRoot,
  type ProcessTable,
  type RuntimeDriver,
  type RuntimeEvent,
  type TerminalSize,
} from '@berth/runtime';
import { FileLog } from './log.js';
import { eventQueue, pump, type Attachment } from './output.js';
import { signalOptions } from './signals.js';
import { adopt, forgetContainer, ownedSystems, saveContainer, savedContainers, type SavedContainer } from './adopt.js';
import { HcnNetworkDriver } from './hcn-network.js';
import { hostSample, windowsTop } from './host-view.js';
import { adoptExecs, hcsExecProcess, hcsStdin, type ExecControl, type HeldExec } from './execs.js';

/** How one container's compute system is made and unmade. */
export interface Sandbox {
  /** A new compute system for one run (created, not started), already holding the container. */
  createSystem(): Promise<HcsSystem>;
  /** Freeze/thaw what runs the container (Hyper-V: the utility VM); absent when it cannot be frozen. */
  pause?(): Promise<void>;
  resume?(): Promise<void>;
  /** The container's files as a host directory while it runs; absent when the host cannot reach them. */
  root?: string;
  /** Remove everything prepare made (scratch, shares, the utility VM). */
  destroy(): Promise<void>;
  /** What the driver saves (JSON) for its reopen() to make this sandbox again after a restart. */
  saved: unknown;
  /** Let go of the handles it holds without ending anything (the driver is closing). */
  close?(): Promise<void>;
}

export interface WindowsDriverOptions {
  hcs: HcsApi;
  /** Local directory for logs (one file per container). */
  stateDir: string;
  /** Container networking; default an HcnNetworkDriver of its own over `hcs`. */
  network?: HcnNetworkDriver;
}

interface Run {
  system: HcsSystem;
  process?: HcsProcess;
  killSignal?: number;
  done: Promise<void>;
  /** Stops copying the process' output (the driver is closing; the process goes on). */
  detach?: () => void;
}

interface Container {
  spec: ContainerSpec;
  sandbox: Sandbox;
  state: ContainerState;
  log: FileLog;
  run?: Run;
  exit?: ExitStatus;
  exitWaiters: (() => void)[];
  attachments: Set<Attachment>;
  /** Attach stdin writes waiting for the process (attached before start). */
  stdinWaiting: (() => void)[];
  /** The last save of its record: saves go one after the other, so the newest state is the one kept. */
  saving?: Promise<void>;
  /** Its running execs the engine named (saved with the record, so a restart takes them back). */
  execs: Map<string, HeldExec>;
  /** The execs a restart took back, until restoredExecs() hands them out. */
  restoredExecs?: RestoredExec[];
}

const ok = (...names: Parameters<typeof isHcsError>[1][]) => (e: unknown) => {
  if (!isHcsError(e, ...names)) throw e;
};

export abstract class WindowsDriverCore implements RuntimeDriver {
  abstract readonly name: string;
  abstract readonly platforms: readonly DriverPlatform[];
  protected abstract readonly guestOs: GuestOs;
  /** Why openRoot() refuses a running container whose sandbox has no host root. */
  protected readonly rootUnreachable: string = 'the container\'s files are not reachable from the host';
  protected readonly hcs: HcsApi;
  readonly network: HcnNetworkDriver;
  private readonly containers = new Map<string, Container>();
  private readonly listeners = new Set<(e: RuntimeEvent) => void>();
  /** The containers a berthd before this one left, taken back once (see adopt.ts). */
  private restored: Promise<void> | undefined;
  private closed = false;
  private restoredAll = false;

  constructor(protected readonly options: WindowsDriverOptions) {
    this.hcs = options.hcs;
    this.network = options.network ?? new HcnNetworkDriver(options.hcs);
  }

  /** Scratch, layers, mapped directories...: everything the container's compute system needs. */
  protected abstract prepare(spec: ContainerSpec, namespaceId: string | undefined): Promise<Sandbox>;

  /** The sandbox prepare() made, again from what it saved (`Sandbox.saved`), after a restart. */
  protected abstract reopen(spec: ContainerSpec, saved: unknown): Promise<Sandbox>;

  /** spec.network as the network driver takes it: Docker's `bridge` is the `nat` network on Windows. */
  private async attachNetwork(spec: ContainerSpec): Promise<string | undefined> {
    const n = spec.network ?? { mode: 'none' };
    const mode = n.mode === 'nat' || n.mode === 'default' ? 'bridge' : n.mode;
    if (mode !== 'bridge' && mode !== 'none') throw new UnsupportedError(`network mode ${n.mode} is not supported by Windows containers (nat/bridge, a named network, or none)`);
    const def = this.network.defaultNetworkName;
    await this.network.attach(spec.id, {
      mode,
      networks: (n.networks ?? []).map((w) => ({ ...w, name: w.name === 'bridge' ? def : w.name })),
      ports: n.ports ?? [],
      ...(spec.hostname ? { hostname: spec.hostname } : {}),
    });
    return this.network.namespaceOf(spec.id);
  }

  /** The guest OS a container runs (a Hyper-V driver runs Linux images too: LCOW). */
  protected guestOsOf(_spec: ContainerSpec): GuestOs {
    return this.guestOs;
  }

  protected processParameters(spec: ContainerSpec, exec?: ExecSpec): ProcessParameters {
    const os = this.guestOsOf(spec);
    return exec ? execProcessParameters(spec, exec, os) : initProcessParameters(spec, os);
  }

  private emit(type: RuntimeEvent['type'], id: string, exitCode?: number): void {
    const ev: RuntimeEvent = { type, id, time: new Date().toISOString(), ...(exitCode !== undefined ? { exitCode } : {}) };
    for (const l of this.listeners) l(ev);
  }

  /** A container by id, once the containers of the berthd before are back. */
  private async find(id: string): Promise<Container> {
    await this.ready();
    return this.get(id);
  }

  private ready(): Promise<void> {
    return (this.restored ??= this.restore().finally(() => (this.restoredAll = true)));
  }

  private async restore(): Promise<void> {
    const saved = await savedContainers(this.options.stateDir);
    if (!saved.length) return;
    const owned = await ownedSystems(this.hcs).catch(() => new Set<string>());
    for (const s of saved) await this.adoptOne(s, owned).catch(() => undefined);
  }

  private async adoptOne(saved: SavedContainer, owned: Set<string>): Promise<void> {
    const { spec } = saved;
    const sandbox = await this.reopen(spec, saved.sandbox);
    const c: Container = { spec, sandbox, state: saved.state, log: new FileLog(saved.state.logPath ?? join(this.options.stateDir, `${spec.id}.log`)), exitWaiters: [], attachments: new Set(), stdinWaiting: [], execs: new Map() };
    const now = await adopt(this.hcs, saved, owned);
    this.containers.set(spec.id, c);
    // before a run that ended meanwhile is shut down, which would end its execs too
    const execs = await adoptExecs(this.hcs, saved.execs ?? [], now.kind === 'running' ? now.system : undefined, (s) => this.execControl(c, s.id));
    c.restoredExecs = execs.restored;
    for (const h of execs.held) c.execs.set(h.saved.id, h);
    if (now.kind === 'created') {
      if (now.system) c.run = { system: now.system, done: Promise.resolve() };
      return;
    }
    if (now.kind === 'stopped') {
      c.exit = { exitCode: now.exitCode, oomKilled: false };
      c.state = { ...c.state, status: 'stopped', pid: undefined, paused: undefined, exitCode: now.exitCode, oomKilled: false, finishedAt: now.finishedAt ?? new Date().toISOString() };
      await this.save(c);
      return;
    }
    const run: Run = { system: now.system, process: now.process, done: Promise.resolve() };
    c.run = run;
    c.state = { ...c.state, paused: now.paused || undefined };
    this.follow(c, run, now.process);
    // its end is noted before anyone asks (bounded: pipes that never close do not hold the restore)
    if (now.ended) await Promise.race([run.done, new Promise((r) => setTimeout(r, 10_000).unref())]);
  }

  /** Best effort: a record that could not be written only costs the container's recovery after a restart. */
  private save(c: Container): Promise<void> {
    const record: SavedContainer = { spec: c.spec, sandbox: c.sandbox.saved, state: { ...c.state }, execs: [...c.execs.values()].map((e) => e.saved) };
    const write = () => saveContainer(this.options.stateDir, record);
    return (c.saving = (c.saving ?? Promise.resolve()).then(write, write).catch(() => undefined));
  }

  private get(id: string): Container {
    const c = this.containers.get(id);
    // a container still being created (its id held against a duplicate) is not there yet
    if (!c?.state) throw new NotFoundError(`no such container: ${id}`);
    return c;
  }

  async create(spec: ContainerSpec): Promise<ContainerState> {
    if (!isValidContainerId(spec.id)) throw new InvalidArgumentError(`invalid container id ${spec.id}`);
    if (this.containers.has(spec.id)) throw new ConflictError(`container ${spec.id} already exists`);
    if (!spec.process.args.length) throw new InvalidArgumentError('process.args must not be empty');
    await this.ready();
    if (this.containers.has(spec.id)) throw new ConflictError(`container ${spec.id} already exists`);
    await mkdir(this.options.stateDir, { recursive: true });
    // a given logPath outlives the container and the next one on it continues it; ours does not
    const logPath = spec.logPath ?? join(this.options.stateDir, `${spec.id}.log`);
    if (!spec.logPath) await rm(logPath, { force: true });
    const placeholder = { spec } as Container;
    this.containers.set(spec.id, placeholder);
    try {
      const namespaceId = await this.attachNetwork(spec);
      let sandbox: Sandbox;
      try {
        sandbox = await this.prepare(spec, namespaceId);
      } catch (e) {
        await this.network.detach(spec.id);
        throw e;
      }
      const c: Container = {
        spec,
        sandbox,
        state: { id: spec.id, status: 'created', createdAt: new Date().toISOString(), labels: { ...(spec.labels ?? {}) }, logPath },
        log: new FileLog(logPath),
        exitWaiters: [],
        attachments: new Set(),
        stdinWaiting: [],
        execs: new Map(),
      };
      // the first run's compute system now, so HCS's refusals (HCS_E_IMAGE_MISMATCH...) come at create as docker create's do
      try {
        c.run = { system: await sandbox.createSystem(), done: Promise.resolve() };
      } catch (e) {
        await sandbox.destroy().catch(() => undefined);
        await this.network.detach(spec.id);
        throw e;
      }
      this.containers.set(spec.id, c);
      await this.save(c);
      this.emit('create', spec.id);
      return { ...c.state };
    } catch (e) {
      if (this.containers.get(spec.id) === placeholder) this.containers.delete(spec.id);
      throw e;
    }
  }

  async start(id: string): Promise<void> {
    const c = await this.find(id);
    if (c.state.status === 'running') throw new ConflictError(`container ${id} is already running`);
    // a stopped run's system is done with; one a restart found gone is made anew
    if (c.state.status === 'stopped' || !c.run) {
      if (c.run) await this.hcs.closeComputeSystem(c.run.system);
      c.run = { system: await c.sandbox.createSystem(), done: Promise.resolve() };
    }
    const run = c.run!;
    await this.hcs.startComputeSystem(run.system);
    let process: HcsProcess;
    try {
      process = await this.hcs.createProcess(run.system, this.processParameters(c.spec));
    } catch (e) {
      await this.hcs.terminateComputeSystem(run.system).catch(() => undefined);
      throw e;
    }
    run.process = process;
    c.exit = undefined;
    c.state = { ...c.state, status: 'running', pid: process.pid, startedAt: new Date().toISOString(), exitCode: undefined, finishedAt: undefined, oomKilled: undefined, paused: undefined };
    // saved before its end can be seen (the exit's save comes after this one)
    await this.save(c);
    this.follow(c, run, process);
    for (const w of c.stdinWaiting.splice(0)) w();
    this.emit('start', id);
  }

  /** The run's output into the log, and its end noted: at start, and for a run a restart took back. */
  private follow(c: Container, run: Run, process: HcsProcess): void {
    const out = pump(c.attachments, c.log, process.stdout, 'stdout');
    const err = pump(c.attachments, c.log, process.stderr, 'stderr');
    run.detach = () => {
      out.detach();
      err.detach();
    };
    run.done = this.watchExit(c, run, process, [out.drained, err.drained]);
  }

  private async watchExit(c: Container, run: Run, process: HcsProcess, drained: Promise<void>[]): Promise<void> {
    let code: number;
    try {
      const status = await this.hcs.waitForProcessExit(process);
      code = status.ExitCode ?? 255;
    } catch {
      code = 255;
    }
    // a closing driver leaves the process to the next berthd, which sees its end
    if (this.closed) return;
    if (run.killSignal === 9) code = 137;
    await Promise.all(drained);
    await c.log.close();
    await this.hcs.closeProcess(process).catch(() => undefined);
    // the init process is the container: its end is the compute system's
    await this.hcs.shutDownComputeSystem(run.system).catch(ok('HCS_E_SYSTEM_ALREADY_STOPPED', 'HCS_E_SYSTEM_NOT_FOUND', 'ERROR_INVALID_HANDLE'));
    c.exit = { exitCode: code, oomKilled: false };
    c.state = { ...c.state, status: 'stopped', pid: undefined, paused: undefined, exitCode: code, oomKilled: false, finishedAt: new Date().toISOString() };
    if (this.containers.get(c.spec.id) === c) await this.save(c);
    for (const a of c.attachments) {
      a.stdout?.end();
      a.stderr?.end();
    }
    c.attachments.clear();
    c.log.wake();
    for (const w of c.exitWaiters.splice(0)) w();
    this.emit('exit', c.spec.id, code);
  }

  async exec(id: string, spec: ExecSpec): Promise<ExecProcess> {
    const c = await this.find(id);
    if (c.state.status !== 'running') throw new ConflictError(`container ${id} is not running`);
    if (c.state.paused) throw new ConflictError(`container ${id} is paused`);
    if (!spec.args.length) throw new InvalidArgumentError('exec args must not be empty');
    const p = await this.hcs.createProcess(c.run!.system, this.processParameters(c.spec, spec));
    const proc = hcsExecProcess(this.execControl(c, spec.id), p, !!spec.stdin);
    if (spec.id !== undefined) {
      c.execs.set(spec.id, { saved: { id: spec.id, spec, pid: p.pid }, process: p, detach: proc.detach });
      await this.save(c);
    }
    return proc;
  }

  /** How an exec's process is signalled and fed, and what its end changes in the container's record. */
  private execControl(c: Container, id: string | undefined): ExecControl {
    return {
      hcs: this.hcs,
      signal: (p, n) => this.signal(p, n, this.guestOsOf(c.spec)),
      stdinOf: (p) => hcsStdin(this.hcs, p),
      closed: () => this.closed,
      ended: () => {
        if (id === undefined || !c.execs.delete(id)) return;
        if (this.containers.get(c.spec.id) === c) void this.save(c);
      },
    };
  }

  async restoredExecs(id: string): Promise<RestoredExec[]> {
    const c = await this.find(id);
    const out = c.restoredExecs ?? [];
    c.restoredExecs = [];
    return out;
  }

  async attach(id: string, options: AttachOptions = {}): Promise<AttachedStdio> {
    const c = await this.find(id);
    let detach!: () => void;
    const a: Attachment = { stdout: new PassThrough(), stderr: new PassThrough(), gone: new Promise<void>((r) => (detach = r)) };
    const running = c.state.status === 'running';
    if (running || c.state.status === 'created') c.attachments.add(a);
    else {
      a.stdout!.end();
      a.stderr!.end();
    }
    if (options.stdout === false) a.stdout!.resume();
    if (options.stderr === false) a.stderr!.resume();
    let stdin: Writable | null = null;
    if (options.stdin) {
      // attached before start: writes wait for the process
      const ready = async () => {
        if (c.run?.process && c.state.status === 'running') return;
        await new Promise<void>((r) => c.stdinWaiting.push(r));
      };
      const current = (): HcsProcess => c.run!.process!;
      const proxy: HcsProcess = {
        get pid() {
          return current().pid;
        },
        get stdin() {
          return current().stdin;
        },
        get stdout() {
          return current().stdout;
        },
        get stderr() {
          return current().stderr;
        },
      };
      stdin = hcsStdin(this.hcs, proxy, ready);
      stdin.on('error', () => undefined);
    }
    return {
      stdin,
      stdout: a.stdout!,
      stderr: a.stderr!,
      close: () => {
        c.attachments.delete(a);
        detach();
        a.stdout!.end();
        a.stderr!.end();
      },
    };
  }

  async resize(id: string, size: TerminalSize): Promise<void> {
    const c = await this.find(id);
    const p = c.run?.process;
    if (c.state.status !== 'running' || !p) throw new ConflictError(`container ${id} is not running`);
    await this.hcs.modifyProcess(p, { Operation: 'ConsoleSize', ConsoleSize: { Height: size.height, Width: size.width } }).catch(ok('HCS_E_PROCESS_ALREADY_STOPPED'));
  }

  private async signal(p: HcsProcess, n: number, os: GuestOs): Promise<void> {
    if (n === 9) return this.hcs.terminateProcess(p);
    const opts = signalOptions(n, os);
    if (!opts) throw new InvalidArgumentError(`signal ${n} cannot be delivered to a Windows container (SIGINT, SIGQUIT, SIGTERM and SIGKILL can)`);
    return this.hcs.signalProcess(p, opts);
  }

  async kill(id: string, signal: string | number = 'SIGKILL'): Promise<void> {
    const c = await this.find(id);
    const n = signalNumber(signal);
    const run = c.run;
    if (c.state.status !== 'running' || !run?.process) return;
    run.killSignal = n;
    if (n === 9 && c.state.paused) await this.unpauseContainer(id);
    await this.signal(run.process, n, this.guestOsOf(c.spec)).catch(ok('HCS_E_PROCESS_ALREADY_STOPPED'));
  }

  async wait(id: string, options: { signal?: AbortSignal } = {}): Promise<ExitStatus> {
    const c = await this.find(id);
    if (c.state.status === 'stopped' && c.exit) return { ...c.exit };
    options.signal?.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        options.signal?.removeEventListener('abort', abort);
        resolve();
      };
      const abort = () => {
        c.exitWaiters.splice(c.exitWaiters.indexOf(done) >>> 0, 1);
        reject(options.signal!.reason ?? new Error('aborted'));
      };
      c.exitWaiters.push(done);
      options.signal?.addEventListener('abort', abort, { once: true });
    });
    return { ...c.exit! };
  }

  async delete(id: string, options: DeleteOptions = {}): Promise<void> {
    const c = await this.find(id);
    if (c.state.status === 'running') {
      if (!options.force) throw new ConflictError(`container ${id} is running: stop it first or force`);
      await this.kill(id, 'SIGKILL');
      await c.run?.done;
    }
    this.containers.delete(id);
    await c.saving?.catch(() => undefined);
    await forgetContainer(this.options.stateDir, id);
    if (c.run) {
      await this.hcs.terminateComputeSystem(c.run.system).catch(() => undefined);
      await this.hcs.closeComputeSystem(c.run.system).catch(() => undefined);
    }
    for (const w of c.stdinWaiting.splice(0)) w();
    await c.sandbox.destroy();
    await this.network.detach(id);
    await c.log.close();
    if (!c.spec.logPath) await rm(c.log.path, { force: true });
    this.emit('delete', id);
  }

  async state(id: string): Promise<ContainerState> {
    return { ...(await this.find(id)).state };
  }

  async list(): Promise<ContainerState[]> {
    await this.ready();
    return [...this.containers.values()].filter((c) => c.state).map((c) => ({ ...c.state }));
  }

  async stats(id: string): Promise<ContainerStats> {
    const c = await this.find(id);
    if (c.state.status !== 'running' || !c.run) throw new ConflictError(`container ${id} is not running`);
    const p = await this.hcs.getComputeSystemProperties(c.run.system, { PropertyTypes: ['Statistics', 'ProcessList'] });
    const s = p.Statistics;
    const limit = c.spec.resources?.memory;
    return {
      id,
      time: s?.Timestamp ?? new Date().toISOString(),
      cpu: {
        usageNanos: (s?.Processor?.TotalRuntime100ns ?? 0) * 100,
        ...(s?.Processor?.RuntimeUser100ns !== undefined ? { userNanos: s.Processor.RuntimeUser100ns * 100 } : {}),
        ...(s?.Processor?.RuntimeKernel100ns !== undefined ? { systemNanos: s.Processor.RuntimeKernel100ns * 100 } : {}),
      },
      memory: { usageBytes: s?.Memory?.MemoryUsageCommitBytes ?? 0, ...(s?.Memory?.MemoryUsageCommitPeakBytes ? { maxUsageBytes: s.Memory.MemoryUsageCommitPeakBytes } : {}), ...(limit ? { limitBytes: limit } : {}) },
      pids: { current: p.ProcessList?.length ?? 0 },
      host: hostSample(),
    };
  }

  /** `docker top` as dockerd on Windows answers it: HCS's ProcessList, no ps, so no ps arguments. */
  async processes(id: string, options: { psArgs?: string } = {}): Promise<ProcessTable> {
    // dockerd refuses them before it looks at the container
    if (options.psArgs) throw new InvalidArgumentError('Windows does not support arguments to top');
    const c = await this.find(id);
    if (c.state.status !== 'running' || !c.run) throw new ConflictError(`container ${id} is not running`);
    const p = await this.hcs.getComputeSystemProperties(c.run.system, { PropertyTypes: ['ProcessList'] });
    return windowsTop(p.ProcessList ?? []);
  }

  /** The mounted scratch is the container's C:\ as the host sees it: writes there are the container's. */
  async openRoot(id: string): Promise<OpenedRoot> {
    const c = await this.find(id);
    if (c.state.status !== 'running') throw new ConflictError(`container ${id} is not running`);
    if (!c.sandbox.root) throw new UnsupportedError(this.rootUnreachable);
    return { path: c.sandbox.root, release: async () => undefined };
  }

  logs(id: string, options: LogOptions = {}): AsyncIterable<LogEntry> {
    const read = (c: Container) => c.log.read(options, () => this.containers.get(id) === c && c.state.status === 'running');
    if (this.restoredAll) return read(this.get(id));
    const find = () => this.find(id);
    return (async function* () {
      yield* read(await find());
    })();
  }

  /** pause()/unpause() for the drivers whose sandbox can freeze (the contract has both or neither). */
  protected async pauseContainer(id: string): Promise<void> {
    const c = await this.find(id);
    if (!c.sandbox.pause) throw new ConflictError(`container ${id} cannot be paused: ${this.name} containers cannot be frozen`);
    if (c.state.status !== 'running') throw new ConflictError(`container ${id} is not running`);
    if (c.state.paused) return;
    await c.sandbox.pause();
    c.state = { ...c.state, paused: true };
    await this.save(c);
  }

  protected async unpauseContainer(id: string): Promise<void> {
    const c = await this.find(id);
    if (c.state.status !== 'running') throw new ConflictError(`container ${id} is not running`);
    if (!c.state.paused || !c.sandbox.resume) return;
    await c.sandbox.resume();
    c.state = { ...c.state, paused: undefined };
    await this.save(c);
  }

  events(options: { signal?: AbortSignal } = {}): AsyncIterable<RuntimeEvent> {
    return eventQueue(this.listeners, options.signal);
  }

  /**
   * Lets go of every container without ending any: output stops being copied (it waits in
   * the pipes HCS holds), handles are closed (the compute systems do not end with them), and
   * the next driver on the same stateDir takes them back.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    await this.restored?.catch(() => undefined);
    for (const c of this.containers.values()) {
      if (!c.state) continue;
      for (const a of c.attachments) {
        a.stdout?.end();
        a.stderr?.end();
      }
      c.attachments.clear();
      for (const e of c.execs.values()) {
        e.detach();
        await this.hcs.closeProcess(e.process).catch(() => undefined);
      }
      const run = c.run;
      if (run) {
        run.detach?.();
        if (run.process) await this.hcs.closeProcess(run.process).catch(() => undefined);
        await this.hcs.closeComputeSystem(run.system).catch(() => undefined);
      }
      await c.sandbox.close?.().catch(() => undefined);
      await c.log.close().catch(() => undefined);
    }
    this.containers.clear();
  }
}
