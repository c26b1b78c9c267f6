import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { ConflictError, InvalidArgumentError, NotFoundError } from '@berth/image-format';
import type {
  AttachedStdio,
  AttachOptions,
  ContainerState,
  ContainerStats,
  DeleteOptions,
  DriverPlatform,
  ExecProcess,
  ExecSpec,
  ExitStatus,
  RestoredExec,
  LogEntry,
  LogOptions,
  OpenedRoot,
  ProcessTable,
  RuntimeDriver,
  RuntimeEvent,
} from '../driver.js';
import type { NetworkDriver } from '../network.js';
import { isValidContainerId, signalNumber } from '../signals.js';
import type { ContainerSpec, TerminalSize } from '../spec.js';
import { FakeLog, nanoTime } from './log.js';
import { Pipe } from './process.js';
import { builtinProgram, type FakeProgram } from './programs.js';
import { startProcess, type RunContext, type RunningProcess } from './run.js';
import { DEFAULT_USERS, mergeEnv, resolveUser, type FakeUser } from './users.js';

export interface FakeDriverOptions {
  /** Default `fake`. */
  name?: string;
  /** Default: Linux images, default isolation (as driver-linux). */
  platforms?: DriverPlatform[];
  /**
   * Programs for argvs the builtins do not simulate (loops, traps, tests...), asked first:
   * return undefined to fall back to the builtins (echo, printf, cat, sleep, sh -c with
   * `;`-separated simple commands, ...). An argv nobody simulates exits 127.
   */
  programs?: (args: string[]) => FakeProgram | undefined;
  /** The files every container sees (e.g. `/bin/busybox`), read by cat and sha256sum. */
  files?: Record<string, Buffer>;
  /** /etc/passwd of every container; default root, daemon and nobody as busybox has them. */
  users?: FakeUser[];
  /** Joined at create (`bridge` or a network's name as the mode) and left at delete, as driver-linux does with its CNI manager. */
  network?: NetworkDriver;
}

interface Sink {
  stdout: PassThrough;
  stderr: PassThrough;
}

/** An exec started with an id: the next driver over the same host takes it back (restoredExecs). */
interface KeptExec {
  spec: ExecSpec;
  pid: number;
  run: RunningProcess;
  /** Where its output goes now: the streams of the driver that holds it. */
  out: Sink;
  /** Set once it ended. */
  code?: number;
  /** The driver that holds it: restoredExecs() hands out only its predecessors'. */
  owner: FakeDriver;
}

/** What outlives one FakeDriver object: the simulated host that reopen() hands on. */
interface FakeHost {
  containers: Map<string, FakeContainer>;
  pathLogs: Map<string, FakeLog>;
  pids: { next: number };
}

interface FakeContainer {
  spec: ContainerSpec;
  state: ContainerState;
  log: FakeLog;
  stdin: Pipe | undefined;
  size: TerminalSize | undefined;
  run: RunningProcess | undefined;
  execs: Set<RunningProcess>;
  kept: Map<string, KeptExec>;
  sinks: Set<Sink>;
  waiters: ((s: ExitStatus) => void)[];
  thaw: (() => void)[];
  startedMs: number;
  /** The argv of each running process (the container's and its execs'), for processes(). */
  argv: Map<RunningProcess, { pid: number; args: string[] }>;
  /** A host directory standing for the container's root once openRoot() asked for it; cat reads it first. */
  rootDir?: string;
}

/** The fake's host: one CPU, 1 GiB, a CPU clock that runs as wall time does. */
const HOST_CPUS = 1;
const HOST_MEMORY = 1 << 30;

/**
 * An in-memory RuntimeDriver for tests that need no root: processes are simulated
 * programs (see FakeProgram), logs live in memory, and there is no isolation at all.
 * It passes the runtime conformance suite. Its state is the object's, which reopen()
 * hands to a new driver as a restarted berthd's driver finds a real host's containers.
 */
export class FakeDriver implements RuntimeDriver {
  readonly name: string;
  readonly platforms: readonly DriverPlatform[];
  private readonly containers: Map<string, FakeContainer>;
  /** Logs at caller-given paths outlive their containers (ContainerSpec.logPath). */
  private readonly pathLogs: Map<string, FakeLog>;
  private readonly listeners = new Set<(e: RuntimeEvent) => void>();
  private readonly host: FakeHost;
  private readonly bornMs = Date.now();
  /** Set by close(): the execs it started are left to the next driver (reopen()). */
  private closed = false;
  /** The containers whose execs restoredExecs() handed out already. */
  private readonly restored = new Set<FakeContainer>();

  constructor(private readonly options: FakeDriverOptions = {}, host?: FakeHost) {
    this.name = options.name ?? 'fake';
    this.platforms = options.platforms ?? [{ os: 'linux', isolation: 'default' }];
    this.host = host ?? { containers: new Map(), pathLogs: new Map(), pids: { next: 1000 } };
    this.containers = this.host.containers;
    this.pathLogs = this.host.pathLogs;
  }

  /** A new driver over this one's containers (which should be closed first), as after a berthd restart. */
  reopen(): FakeDriver {
    return new FakeDriver(this.options, this.host);
  }

  private get nextPid(): number {
    return this.host.pids.next;
  }

  private set nextPid(n: number) {
    this.host.pids.next = n;
  }

  private get(id: string): FakeContainer {
    const c = this.containers.get(id);
    if (!c) throw new NotFoundError(`container ${id} not found`);
    return c;
  }

  private emit(type: RuntimeEvent['type'], id: string, exitCode?: number): void {
    const e: RuntimeEvent = { type, id, time: nanoTime(), ...(exitCode !== undefined ? { exitCode } : {}) };
    for (const l of this.listeners) l(e);
  }

  private program(args: string[]): FakeProgram {
    return (
      this.options.programs?.(args) ??
      builtinProgram(args) ??
      (async (p) => {
        p.stderr(`exec: "${args[0] ?? ''}": executable file not found in $PATH\n`);
        return 127;
      })
    );
  }

  async create(spec: ContainerSpec): Promise<ContainerState> {
    if (!isValidContainerId(spec.id)) throw new InvalidArgumentError(`invalid container id ${JSON.stringify(spec.id)}`);
    if (this.containers.has(spec.id)) throw new ConflictError(`container ${spec.id} already exists`);
    if (!spec.process?.args?.length) throw new InvalidArgumentError('process.args must not be empty');
    if (spec.pidNamespaceOf !== undefined) {
      const other = this.containers.get(spec.pidNamespaceOf);
      if (!other) throw new NotFoundError(`no such container: ${spec.pidNamespaceOf}`);
      if (other.state.status !== 'running') throw new ConflictError(`container ${spec.pidNamespaceOf} is not running`);
    }
    let log = new FakeLog();
    if (spec.logPath) {
      log = this.pathLogs.get(spec.logPath) ?? log;
      this.pathLogs.set(spec.logPath, log);
    }
    // as driver-linux: `bridge` or a network's name joins networks, host/none/container:<id> join none
    const mode = spec.network?.mode ?? 'none';
    let ports: ContainerState['ports'];
    if (this.options.network && mode !== 'host' && mode !== 'none' && !mode.startsWith('container:')) {
      ({ ports } = await this.options.network.attach(spec.id, {
        mode: 'bridge',
        networks: spec.network?.networks ?? (mode === 'bridge' ? [] : [{ name: mode }]),
        ...(spec.network?.ports ? { ports: spec.network.ports } : {}),
        ...(spec.hostname ? { hostname: spec.hostname } : {}),
      }));
    }
    const c: FakeContainer = {
      spec,
      state: { id: spec.id, status: 'created', createdAt: new Date().toISOString(), labels: { ...(spec.labels ?? {}) }, ...(spec.logPath ? { logPath: spec.logPath } : {}), ...(ports?.length ? { ports } : {}) },
      log,
      stdin: spec.process.stdin ? new Pipe() : undefined,
      size: spec.process.terminalSize,
      run: undefined,
      execs: new Set(),
      kept: new Map(),
      sinks: new Set(),
      waiters: [],
      thaw: [],
      startedMs: 0,
      argv: new Map(),
    };
    this.containers.set(spec.id, c);
    this.emit('create', spec.id);
    return { ...c.state };
  }

  private context(c: FakeContainer, p: { args: string[]; env?: string[]; cwd?: string; user?: ContainerSpec['process']['user']; tty?: boolean }, stdin: Pipe | undefined, output: RunContext['output'], size: () => TerminalSize | undefined): RunContext {
    const user = resolveUser(p.user ?? c.spec.process.user ?? c.spec.image?.user, this.options.users ?? DEFAULT_USERS);
    return {
      args: p.args,
      env: mergeEnv(c.spec.image?.env, p.env, user.home),
      cwd: p.cwd ?? c.spec.image?.workingDir ?? '/',
      uid: user.uid,
      gid: user.gid,
      tty: p.tty ?? false,
      stdin,
      initArgs: c.spec.process.args,
      size,
      output,
      readFile: (path) => fromDir(c.rootDir, path) ?? this.options.files?.[path],
      thawed: () => (c.state.paused ? new Promise<void>((r) => c.thaw.push(r)) : Promise.resolve()),
    };
  }

  async start(id: string): Promise<void> {
    const c = this.get(id);
    if (c.state.status === 'running') throw new ConflictError(`container ${id} is running`);
    if (c.stdin?.isEnded) c.stdin = new Pipe();
    const ctx = this.context(c, c.spec.process, c.stdin, (stream, data) => {
      c.log.write(stream, data);
      for (const s of c.sinks) s[stream].write(data);
    }, () => c.size);
    c.state = { ...c.state, status: 'running', pid: this.nextPid++, startedAt: new Date().toISOString() };
    delete c.state.exitCode;
    delete c.state.finishedAt;
    c.startedMs = Date.now();
    const run = startProcess(this.program(c.spec.process.args), ctx);
    c.run = run;
    c.argv.set(run, { pid: c.state.pid!, args: c.spec.process.args });
    this.emit('start', id);
    void run.exited.then((code) => this.exited(c, code));
  }

  private exited(c: FakeContainer, code: number): void {
    if (c.run) c.argv.delete(c.run);
    c.run = undefined;
    for (const e of c.execs) e.kill(9);
    c.state = { ...c.state, status: 'stopped', exitCode: code, oomKilled: false, finishedAt: new Date().toISOString() };
    delete c.state.pid;
    delete c.state.paused;
    for (const t of c.thaw.splice(0)) t();
    c.stdin?.end();
    for (const s of c.sinks) {
      s.stdout.end();
      s.stderr.end();
    }
    c.sinks.clear();
    c.log.wake();
    const status = { exitCode: code, oomKilled: false };
    for (const w of c.waiters.splice(0)) w(status);
    if (this.containers.get(c.spec.id) === c) this.emit('exit', c.spec.id, code);
  }

  async exec(id: string, spec: ExecSpec): Promise<ExecProcess> {
    const c = this.get(id);
    if (c.state.status !== 'running') throw new ConflictError(`container ${id} is not running`);
    if (c.state.paused) throw new ConflictError(`container ${id} is paused, unpause the container before exec`);
    const sink: Sink = { stdout: new PassThrough(), stderr: new PassThrough() };
    const pipe = spec.stdin ? new Pipe() : undefined;
    let size = spec.terminalSize;
    let kept: KeptExec | undefined;
    const out = () => kept?.out ?? sink;
    const run = startProcess(this.program(spec.args), this.context(c, spec, pipe, (stream, data) => out()[stream].write(data), () => size));
    const pid = this.nextPid++;
    c.execs.add(run);
    c.argv.set(run, { pid, args: spec.args });
    if (spec.tty) sink.stderr.end();
    if (spec.id !== undefined) c.kept.set(spec.id, (kept = { spec, pid, run, out: sink, owner: this }));
    const exited = run.exited.then((code) => {
      c.execs.delete(run);
      c.argv.delete(run);
      endSink(out());
      pipe?.end();
      if (kept) kept.code = code;
      // one that ends while no driver holds it waits for the next one's restoredExecs()
      if (kept && !this.closed) c.kept.delete(spec.id!);
      return code;
    });
    return {
      pid,
      stdin: pipe ? stdinWritable(pipe, true) : null,
      stdout: sink.stdout,
      stderr: sink.stderr,
      exited,
      resize: async (s) => {
        size = s;
      },
      kill: async (signal) => run.kill(signalNumber(signal ?? 'SIGKILL')),
    };
  }

  async restoredExecs(id: string): Promise<RestoredExec[]> {
    const c = this.get(id);
    const out: RestoredExec[] = [];
    if (this.restored.has(c)) return out;
    this.restored.add(c);
    for (const [execId, k] of [...c.kept]) {
      if (k.owner === this) continue;
      k.owner = this;
      c.kept.delete(execId);
      k.out = { stdout: new PassThrough(), stderr: new PassThrough() };
      if (k.code !== undefined || k.spec.tty) k.out.stderr.end();
      if (k.code !== undefined) k.out.stdout.end();
      else c.kept.set(execId, k);
      const exited =
        k.code !== undefined
          ? Promise.resolve(k.code)
          : k.run.exited.then((code) => {
              if (!this.closed) c.kept.delete(execId);
              return code;
            });
      out.push({
        id: execId,
        spec: k.spec,
        process: { pid: k.pid, stdin: null, stdout: k.out.stdout, stderr: k.out.stderr, exited, resize: async () => undefined, kill: async (signal) => k.run.kill(signalNumber(signal ?? 'SIGKILL')) },
      });
    }
    return out;
  }

  async attach(id: string, options: AttachOptions = {}): Promise<AttachedStdio> {
    const c = this.get(id);
    const sink: Sink = { stdout: new PassThrough(), stderr: new PassThrough() };
    const stopped = c.state.status === 'stopped';
    if (stopped) {
      sink.stdout.end();
      sink.stderr.end();
    } else c.sinks.add(sink);
    if (options.stdout === false) sink.stdout.resume();
    if (options.stderr === false || c.spec.process.tty) sink.stderr.resume();
    const stdin = options.stdin && c.stdin ? stdinWritable(c.stdin, !c.spec.process.keepStdinOpen, () => c.stdin) : null;
    return {
      stdin,
      stdout: sink.stdout,
      stderr: sink.stderr,
      close: () => {
        if (!c.sinks.delete(sink)) return;
        sink.stdout.end();
        sink.stderr.end();
      },
    };
  }

  async resize(id: string, size: TerminalSize): Promise<void> {
    this.get(id).size = size;
  }

  async kill(id: string, signal: string | number = 'SIGKILL'): Promise<void> {
    const c = this.get(id);
    const n = signalNumber(signal);
    if (!c.run) return;
    if (n === 9 && c.state.paused) c.state = { ...c.state, paused: false };
    c.run.kill(n);
  }

  async wait(id: string, options: { signal?: AbortSignal } = {}): Promise<ExitStatus> {
    const c = this.get(id);
    if (c.state.status === 'stopped') return { exitCode: c.state.exitCode ?? 0, oomKilled: false };
    options.signal?.throwIfAborted();
    return new Promise<ExitStatus>((resolve, reject) => {
      const w = (s: ExitStatus) => resolve(s);
      c.waiters.push(w);
      options.signal?.addEventListener('abort', () => {
        c.waiters = c.waiters.filter((x) => x !== w);
        reject(options.signal?.reason ?? new Error('aborted'));
      }, { once: true });
    });
  }

  async delete(id: string, options: DeleteOptions = {}): Promise<void> {
    const c = this.get(id);
    if (c.state.status === 'running') {
      if (!options.force) throw new ConflictError(`cannot delete running container ${id}: stop it first or force`);
      const done = this.wait(id);
      await this.kill(id, 'SIGKILL');
      await done;
    }
    for (const w of c.waiters.splice(0)) w({ exitCode: c.state.exitCode ?? 137, oomKilled: false });
    // attached before a start that never came: their streams end with the container
    for (const s of c.sinks) {
      s.stdout.end();
      s.stderr.end();
    }
    c.sinks.clear();
    if (c.rootDir) rmSync(c.rootDir, { recursive: true, force: true });
    this.containers.delete(id);
    await this.options.network?.detach(id).catch(() => undefined);
    this.emit('delete', id);
  }

  async state(id: string): Promise<ContainerState> {
    return { ...this.get(id).state };
  }

  async list(): Promise<ContainerState[]> {
    return [...this.containers.values()].map((c) => ({ ...c.state }));
  }

  async stats(id: string): Promise<ContainerStats> {
    const c = this.get(id);
    const running = c.state.status === 'running';
    return {
      id,
      time: nanoTime(),
      cpu: { usageNanos: running ? (Date.now() - c.startedMs) * 1000 : 0 },
      memory: { usageBytes: running ? 1 << 20 : 0 },
      pids: { current: running ? 1 + c.execs.size : 0 },
      host: { cpuNanos: (Date.now() - this.bornMs + 1) * 1e6 * HOST_CPUS, onlineCpus: HOST_CPUS, memoryBytes: HOST_MEMORY },
      // a container on a network has its own interface, whose traffic the fake does not count
      ...(running && this.options.network && c.spec.network?.mode !== undefined && !['host', 'none'].includes(c.spec.network.mode) && !c.spec.network.mode.startsWith('container:')
        ? { networks: { eth0: { rxBytes: 0, rxPackets: 0, rxErrors: 0, rxDropped: 0, txBytes: 0, txPackets: 0, txErrors: 0, txDropped: 0 } } }
        : {}),
    };
  }

  /** ps -f's columns over the simulated processes; the fake knows no other ps options. */
  async processes(id: string, options: { psArgs?: string } = {}): Promise<ProcessTable> {
    const c = this.get(id);
    if (c.state.status !== 'running') throw new ConflictError(`container ${id} is not running`);
    if (options.psArgs !== undefined && !['', '-f', '-ef'].includes(options.psArgs.trim())) {
      throw new InvalidArgumentError(`the fake driver's ps knows no options but -f and -ef (got ${JSON.stringify(options.psArgs)})`);
    }
    const init = c.state.pid ?? 0;
    return {
      titles: ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD'],
      processes: [...c.argv.values()].map((p) => ['root', String(p.pid), String(p.pid === init ? 0 : init), '0', '00:00', '?', '00:00:00', p.args.join(' ')]),
    };
  }

  /** A temp directory stands for the root: files written there are what cat in the container reads. */
  async openRoot(id: string): Promise<OpenedRoot> {
    const c = this.get(id);
    if (c.state.status !== 'running') throw new ConflictError(`container ${id} is not running`);
    c.rootDir ??= mkdtempSync(join(tmpdir(), 'berth-fake-root-'));
    return { path: c.rootDir, release: async () => undefined };
  }

  logs(id: string, options: LogOptions = {}): AsyncIterable<LogEntry> {
    const c = this.get(id);
    return c.log.read(options, () => this.containers.get(id) === c && c.state.status === 'running');
  }

  async pause(id: string): Promise<void> {
    const c = this.get(id);
    if (c.state.status !== 'running') throw new ConflictError(`container ${id} is not running`);
    c.state = { ...c.state, paused: true };
  }

  async unpause(id: string): Promise<void> {
    const c = this.get(id);
    if (c.state.status !== 'running') throw new ConflictError(`container ${id} is not running`);
    if (!c.state.paused) return;
    c.state = { ...c.state };
    delete c.state.paused;
    for (const t of c.thaw.splice(0)) t();
  }

  async *events(options: { signal?: AbortSignal } = {}): AsyncGenerator<RuntimeEvent> {
    const queue: RuntimeEvent[] = [];
    let wake: (() => void) | undefined;
    const listener = (e: RuntimeEvent) => {
      queue.push(e);
      wake?.();
    };
    this.listeners.add(listener);
    const onAbort = () => wake?.();
    options.signal?.addEventListener('abort', onAbort);
    try {
      for (;;) {
        while (queue.length > 0) yield queue.shift()!;
        if (options.signal?.aborted) return;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      this.listeners.delete(listener);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    // the containers are the object's: only their root directories are on disk
    for (const c of this.containers.values()) if (c.rootDir) rmSync(c.rootDir, { recursive: true, force: true });
  }
}

function endSink(s: Sink): void {
  if (!s.stdout.writableEnded) s.stdout.end();
  if (!s.stderr.writableEnded) s.stderr.end();
}

function fromDir(dir: string | undefined, path: string): Buffer | undefined {
  if (dir === undefined || !path.startsWith('/') || path.split('/').includes('..')) return undefined;
  try {
    return readFileSync(join(dir, path));
  } catch {
    return undefined;
  }
}

/** A Writable into a process' stdin pipe; its end() closes that stdin when `closes`. */
function stdinWritable(pipe: Pipe, closes: boolean, current: () => Pipe | undefined = () => pipe): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      current()?.write(Buffer.from(chunk));
      cb();
    },
    final(cb) {
      if (closes) current()?.end();
      cb();
    },
  });
}
