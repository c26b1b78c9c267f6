import type { Readable, Writable } from 'node:stream';
import type { ContainerSpec, Isolation, PortMapping, TerminalSize, UserSpec } from './spec.js';

/** created: exists, process not started; running; stopped: the process exited. */
export type ContainerStatus = 'created' | 'running' | 'stopped';

export interface ContainerState {
  id: string;
  status: ContainerStatus;
  /** Host pid of the container's process while running. */
  pid?: number;
  /** Set once stopped. 128+signal when killed by a signal. */
  exitCode?: number;
  /** True when the kernel OOM killer ended the container. */
  oomKilled?: boolean;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  labels: Record<string, string>;
  /** The log file holding the container's output (format is the driver's). */
  logPath?: string;
  /** True while frozen by `pause()`; the status stays `running`. */
  paused?: boolean;
  /**
   * The published ports as the network driver set them up at create (host port 0
   * resolved to the port it picked): the one allocator is the network driver's.
   */
  ports?: PortMapping[];
}

export interface ExitStatus {
  exitCode: number;
  oomKilled: boolean;
}

export interface ExecSpec {
  args: string[];
  env?: string[];
  cwd?: string;
  user?: UserSpec;
  tty?: boolean;
  stdin?: boolean;
  terminalSize?: TerminalSize;
  /**
   * The caller's name for this exec (the engine's exec id). A driver whose execs outlive
   * it (`restoredExecs`) keeps it with the process to hand it back after a restart.
   */
  id?: string;
}

/** A running exec'd process. */
export interface ExecProcess {
  /** Its pid, when the driver can tell (as `ContainerState.pid`: the host's, or the guest's under Hyper-V). */
  pid?: number;
  /** Present when `stdin` was requested; end() closes the process' stdin. */
  stdin: Writable | null;
  stdout: Readable;
  /** Empty when `tty` (the terminal merges both). */
  stderr: Readable;
  /** Resolves with the exit code (128+signal when killed). */
  exited: Promise<number>;
  resize(size: TerminalSize): Promise<void>;
  kill(signal?: string): Promise<void>;
}

/**
 * An exec'd process a driver before this one started (with `ExecSpec.id`) and this one
 * took back: nobody holds its stdin any more; stdout/stderr carry what it writes from now
 * on (the caller drains them); `exited` gives its exit code, also when it ended while no
 * driver watched, and 255 when its end can no longer be learned (its container is gone).
 */
export interface RestoredExec {
  id: string;
  spec: ExecSpec;
  process: ExecProcess;
}

export interface AttachOptions {
  stdin?: boolean;
  stdout?: boolean;
  stderr?: boolean;
}

/**
 * A live connection to a container's stdio. Output produced before the attach is not
 * replayed (read `logs` for that). stdout/stderr end when the container exits or
 * `close()` is called.
 */
export interface AttachedStdio {
  stdin: Writable | null;
  stdout: Readable;
  stderr: Readable;
  close(): void;
}

export interface LogEntry {
  stream: 'stdout' | 'stderr';
  /** RFC 3339 with nanoseconds, as recorded by the monitor. */
  time: string;
  /**
   * The bytes the container wrote, as written: a line with its `\n`, or (no `\n` at the
   * end) a part of one: a long line cut in pieces, output still waiting for its newline,
   * or a last line that never got one.
   */
  data: Buffer;
}

export interface LogOptions {
  /** Keep reading until the container stops or `signal` aborts. */
  follow?: boolean;
  signal?: AbortSignal;
  /** Only the last `tail` lines (of both streams), found from the end of the log without reading all of it. */
  tail?: number;
  /** Unix seconds (fractions allowed): leave out entries written before. */
  since?: number;
  /** Unix seconds: end at the first entry written after (a follow also ends once the clock passes it). */
  until?: number;
}

/** Counters of one network interface of a container. */
export interface InterfaceCounters {
  rxBytes: number;
  rxPackets: number;
  rxErrors: number;
  rxDropped: number;
  txBytes: number;
  txPackets: number;
  txErrors: number;
  txDropped: number;
}

export interface ContainerStats {
  id: string;
  time: string;
  /** Which cgroup version the figures come from: the names in `memory.stat` differ. */
  cgroup?: 'v1' | 'v2';
  cpu: {
    usageNanos: number;
    userNanos?: number;
    systemNanos?: number;
    /** Usage by CPU (cgroup v1's cpuacct.usage_percpu; v2 has none). */
    perCpuNanos?: number[];
    /** CFS quota enforcement (cpu.stat): periods, periods throttled, time throttled. */
    throttling?: { periods: number; throttledPeriods: number; throttledNanos: number };
  };
  memory: {
    usageBytes: number;
    limitBytes?: number;
    maxUsageBytes?: number;
    /** v1 memory.failcnt (times the limit was hit); v2 memory.events' oom count. */
    failCount?: number;
    /**
     * The cgroup's memory.stat as the kernel names its counters (v1 or v2 names, see `cgroup`),
     * exact: a counter past 2^53 (v1's unlimited hierarchical_memory_limit) is a bigint.
     */
    stat?: Record<string, number | bigint>;
    /** Anonymous memory (cgroup v1 total_rss, v2 anon), what kubelet calls rss. */
    rssBytes?: number;
    /** Page cache the kernel may reclaim first (v1 total_inactive_file, v2 inactive_file): usage less it is the working set. */
    inactiveFileBytes?: number;
    pageFaults?: number;
    majorPageFaults?: number;
  };
  pids: { current: number; limit?: number };
  /**
   * The host the container runs on, sampled with it: a CPU % is the container's
   * usage delta over the host's (`cpuNanos`, all CPUs) times `onlineCpus`.
   */
  host: { cpuNanos: number; onlineCpus: number; memoryBytes: number };
  /**
   * The container's own network interfaces by name, loopback left out; absent when it
   * has none of its own (host or no network).
   */
  networks?: Record<string, InterfaceCounters>;
}

/** `docker top`: the container's processes as a table (a driver's own columns, e.g. ps's). */
export interface ProcessTable {
  titles: string[];
  /** One row per process, a cell per title. */
  processes: string[][];
}

/** A running container's root as a host directory (see RuntimeDriver.openRoot). */
export interface OpenedRoot {
  /** The container's `/`, with its mounts (volumes, binds, tmpfs) in place. */
  path: string;
  /**
   * Paths (in the container) where something is mounted: an extraction must not replace
   * them (Docker refuses to), since the host would only swap the mount point's name.
   */
  mountPoints?: readonly string[];
  /** Done with it (the driver may unmount what it mounted for the caller). */
  release(): Promise<void>;
}

export type RuntimeEventType = 'create' | 'start' | 'exit' | 'oom' | 'delete';

export interface RuntimeEvent {
  type: RuntimeEventType;
  id: string;
  time: string;
  exitCode?: number;
}

export interface DeleteOptions {
  /** Kill a running container first instead of refusing. */
  force?: boolean;
}

/**
 * One kind of container a driver runs: images of `os` under `isolation`. `default` is
 * the host's own way (namespaces on Linux); Windows drivers say `process` or `hyperv`,
 * and a Hyper-V driver that boots Linux utility VMs also runs `linux` under `hyperv`.
 */
export interface DriverPlatform {
  os: 'linux' | 'windows';
  isolation: Isolation;
}

/**
 * A container runtime driver. Contract (checked by `runConformanceSuite` from
 * `@berth/runtime/testsuite`):
 * - create() prepares the container without running user code; start() runs it and
 *   returns once the process exists. Both reject unknown ids with NotFoundError and a
 *   duplicate create with ConflictError; start() of a running container is a
 *   ConflictError, start() of a stopped one runs it again (restart; output continues
 *   in the same log).
 * - Containers survive the driver object (and its process): a new driver on the same
 *   state finds them with list()/state() and can stop, wait and delete them.
 * - wait() resolves when the process has exited (immediately when already stopped) and
 *   keeps resolving with the same status until delete().
 * - kill() on a stopped container is a no-op; delete() of a running container rejects
 *   with ConflictError unless `force`.
 * - Errors are BerthError subclasses with a code.
 */
export interface RuntimeDriver {
  /** e.g. `linux/crun`. */
  readonly name: string;
  /** What it runs; the engine picks the driver of a container by its image's OS and isolation. */
  readonly platforms: readonly DriverPlatform[];
  create(spec: ContainerSpec): Promise<ContainerState>;
  start(id: string): Promise<void>;
  exec(id: string, spec: ExecSpec): Promise<ExecProcess>;
  attach(id: string, options?: AttachOptions): Promise<AttachedStdio>;
  resize(id: string, size: TerminalSize): Promise<void>;
  /** Signal name (`SIGTERM`, `TERM`) or number; default SIGKILL. */
  kill(id: string, signal?: string | number): Promise<void>;
  wait(id: string, options?: { signal?: AbortSignal }): Promise<ExitStatus>;
  delete(id: string, options?: DeleteOptions): Promise<void>;
  state(id: string): Promise<ContainerState>;
  list(): Promise<ContainerState[]>;
  /** Usage of a running container. */
  stats(id: string): Promise<ContainerStats>;
  /**
   * `docker top`: every process of a running container (ConflictError when it is not
   * running). `psArgs` are the client's ps options; a driver whose table is not ps's
   * may refuse any with InvalidArgumentError.
   */
  processes(id: string, options?: { psArgs?: string }): Promise<ProcessTable>;
  /**
   * The root of a running container as a host directory, for copying files in and out
   * (`docker cp`) while it runs: what is written there the container sees, and the
   * other way round. ConflictError when it is not running; UnsupportedError when the root
   * is not reachable from the host, as a Hyper-V container's. The tree is the container's:
   * its symlinks must be resolved inside `path` (layer-store's in-root resolver), never
   * followed from the host.
   */
  openRoot(id: string): Promise<OpenedRoot>;
  /**
   * The container's output from its log, oldest first: every run's, and what rotation
   * (`spec.logLimits`) kept. Concatenating the `data` of one stream gives its bytes as
   * written. After the last run's output it ends, or with `follow` waits for more until
   * the container stops.
   */
  logs(id: string, options?: LogOptions): AsyncIterable<LogEntry>;
  /**
   * Optional (both or neither): freeze every process of a running container (`docker
   * pause`) and thaw it. pause() of a container that is not running is a ConflictError;
   * pausing a paused or unpausing a running one is a no-op. While paused, state() says
   * `paused: true`, exec() is refused with ConflictError, and kill() still works: a
   * SIGKILL ends a paused container (the driver thaws it to let the signal land).
   */
  pause?(id: string): Promise<void>;
  unpause?(id: string): Promise<void>;
  /**
   * Optional: frees what a stopped run holds of the network, as dockerd does at every
   * exit, while its log and exit status stay until delete(): when it resolves its
   * published host ports, forwarding rules, addresses and names are free; its namespace
   * may go right after (NetworkDriver's deferred detach). ConflictError while it runs; a
   * no-op when it holds none. A run so released is not started again: the caller creates
   * a fresh one.
   */
  releaseNetwork?(id: string): Promise<void>;
  /**
   * Optional: the exec'd processes of container `id` that were running when the driver
   * before this one closed (see RestoredExec), asked once after a restart: a second call
   * hands out none. Execs started without `ExecSpec.id` are not kept.
   */
  restoredExecs?(id: string): Promise<RestoredExec[]>;
  /** Events from now on (create, start, exit, oom, delete) until `signal` aborts. */
  events(options?: { signal?: AbortSignal }): AsyncIterable<RuntimeEvent>;
  /** Release the driver's own resources; containers keep running. */
  close(): Promise<void>;
}
