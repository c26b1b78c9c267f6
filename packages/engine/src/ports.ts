// What the engine needs from the layers below, in its own terms. Adapters in ./adapters/
// implement these over @berth/layer-store and the @berth/runtime drivers given, so a lower package's
// surface changing touches one adapter, not the engine's logic.
import type { Readable, Writable } from 'node:stream';
import type { PublishedPort } from './spec.js';

/** How the driver gets the container's root filesystem: a mount to perform. */
export interface RootfsMount {
  type: string;
  source: string;
  options: string[];
}

export interface SnapshotPort {
  /** A writable snapshot over the committed chain `parent` (none: empty). */
  prepare(key: string, parent: string | undefined): Promise<RootfsMount[]>;
  mounts(key: string): Promise<RootfsMount[]>;
  remove(key: string): Promise<void>;
  /** Bytes in the writable layer. */
  usage(key: string): Promise<number>;
  /** What a diff reads: the overlay upper dir, or full trees (native). */
  diffSource?(key: string): Promise<{ kind: 'overlay-upper'; upper: string } | { kind: 'trees'; lower?: string; upper: string }>;
  /** A read-only view of a committed snapshot (removed with `remove`). */
  view?(key: string, parent: string | undefined): Promise<RootfsMount[]>;
  /** Keys of active (writable) snapshots. */
  list?(): Promise<string[]>;
}

export interface RunMount {
  type: 'bind' | 'tmpfs';
  source: string;
  target: string;
  options: string[];
}

export interface RunNetwork {
  /** `bridge` (default network), `host`, `none`, or a user network's name. */
  mode: string;
  networks: { name: string; id: string; aliases: string[]; ipv4?: string; ipv6?: string; mac?: string; links?: { alias: string; target: string }[] }[];
  ports: PublishedPort[];
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  extraHosts: string[];
}

export interface RunRequest {
  /** The driver's ID for this run. */
  id: string;
  /** Where the run's output log goes: the container's, every run continues it. */
  logPath: string;
  /** json-file's max-size/max-file, applied by the driver. */
  logLimits?: { maxSize: number; maxFiles: number };
  name: string;
  rootfs: RootfsMount[];
  readonlyRootfs: boolean;
  process: {
    args: string[];
    env: string[];
    cwd: string;
    user: string;
    tty: boolean;
    openStdin: boolean;
    stdinOnce: boolean;
    consoleSize?: { h: number; w: number };
    /** --ulimit: `nofile` and the like. */
    rlimits: { type: string; soft: number; hard: number }[];
  };
  /** Namespaces shared with the host (--pid/--ipc/--uts host). */
  hostNamespaces: ('pid' | 'ipc' | 'uts')[];
  hostname: string;
  domainname: string;
  mounts: RunMount[];
  network: RunNetwork;
  resources: {
    memory?: number;
    memorySwap?: number;
    cpuQuota?: number;
    cpuPeriod?: number;
    cpuShares?: number;
    pidsLimit?: number;
    cpusetCpus?: string;
    memorySwappiness?: number;
    oomScoreAdj?: number;
  };
  security: {
    privileged: boolean;
    capAdd: string[];
    capDrop: string[];
    securityOpt: string[];
    groupAdd: string[];
    /** HostConfig.MaskedPaths / ReadonlyPaths when the client set them (else the driver's defaults). */
    maskedPaths?: string[];
    readonlyPaths?: string[];
  };
  sysctls: Record<string, string>;
  devices: { pathOnHost: string; pathInContainer: string; permissions: string }[];
  deviceCgroupRules: string[];
  labels: Record<string, string>;
  stopSignal: string;
}

export interface ExitInfo {
  exitCode: number;
  oomKilled: boolean;
  /** ISO time the process ended. */
  finishedAt: string;
}

export interface DriverState {
  status: 'created' | 'running' | 'paused' | 'stopped' | 'unknown';
  pid: number;
  exit?: ExitInfo;
}

export interface StdioHandle {
  stdin?: Writable;
  /** Raw bytes; with a TTY everything arrives on stdout. */
  stdout: Readable;
  stderr?: Readable;
  close(): void;
}

export interface NetworkAttachment {
  network: string;
  ipAddress: string;
  prefixLen: number;
  gateway: string;
  macAddress: string;
  sandboxKey: string;
}

export interface ExecRequest {
  args: string[];
  env: string[];
  cwd?: string;
  user?: string;
  tty: boolean;
  stdin: boolean;
  privileged: boolean;
}

export interface ExecHandle extends StdioHandle {
  pid: number;
  exited: Promise<number>;
  resize?(size: { h: number; w: number }): Promise<void>;
}

/** A piece of output as the driver logged it: a line with its `\n`, or part of one without. */
export interface RuntimeLogEntry {
  stream: 'stdout' | 'stderr';
  /** RFC 3339 with nanoseconds. */
  time: string;
  data: Buffer;
}

export interface RuntimeLogOptions {
  follow?: boolean;
  tail?: number;
  /** Unix seconds. */
  since?: number;
  until?: number;
  signal?: AbortSignal;
}

export interface RuntimePort {
  /** Creates (not starts) the container; returns where its log file is. */
  create(req: RunRequest): Promise<{ logPath: string; network?: NetworkAttachment[] }>;
  start(id: string): Promise<{ pid: number }>;
  state(id: string): Promise<DriverState>;
  /** Resolves once the container's process has exited (also for adopted containers). */
  waitExit(id: string): Promise<ExitInfo>;
  kill(id: string, signal: string): Promise<void>;
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  /** Removes every runtime trace (bundle, network, monitor files). */
  delete(id: string): Promise<void>;
  attach(id: string, opts: { stdin: boolean }): Promise<StdioHandle>;
  resize(id: string, size: { h: number; w: number }): Promise<void>;
  exec(id: string, req: ExecRequest): Promise<ExecHandle>;
  /** The run's log (with the earlier runs' on the same logPath), in bounded memory; see RuntimeDriver.logs. */
  logs(id: string, opts: RuntimeLogOptions): AsyncIterable<RuntimeLogEntry>;
  stats(id: string): Promise<{ cpuNs: number; cpuUserNs: number; cpuKernelNs: number; memory: number; memoryLimit: number; pids: number }>;
  /** Containers the driver knows, with their labels (for adopting and sweeping after a restart). */
  list(): Promise<{ id: string; labels: Record<string, string> }[]>;
  networkInfo?(id: string): Promise<NetworkAttachment[]>;
}

/** Networks through the driver's network manager. */
export interface NetworkPort {
  create(net: { id: string; name: string; subnet?: string; gateway?: string; ipRange?: string; internal: boolean; bridge?: string }): Promise<{ subnet: string; gateway: string; bridge: string }>;
  remove(net: { id: string; name: string }): Promise<void>;
}
