import type { Platform } from '@berth/image-format';

/**
 * How a container is isolated. `default` lets the driver choose (namespaces on Linux,
 * process isolation on Windows Server); `process` and `hyperv` are the Windows modes.
 */
export type Isolation = 'default' | 'process' | 'hyperv';

/** A user already resolved to numeric ids. */
export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids?: number[];
}

/**
 * The user a process runs as: `name`, `uid`, `uid:gid`, `name:group`, `uid:group`
 * (resolved by the driver from the rootfs' /etc/passwd and /etc/group), or already
 * resolved ids.
 */
export type UserSpec = string | ResolvedUser;

export interface TerminalSize {
  height: number;
  width: number;
}

export interface ProcessSpec {
  /** argv; args[0] is looked up on the container's PATH when it has no slash. */
  args: string[];
  /** `KEY=value` entries; these override the image's env (see ImageDefaults). */
  env?: string[];
  /** Working directory; created (owned by the user) when missing. Default `/`. */
  cwd?: string;
  user?: UserSpec;
  /** Allocate a pseudo-terminal; stdout and stderr are then one stream. */
  tty?: boolean;
  /** Keep stdin open so that `attach` can write to it. */
  stdin?: boolean;
  /**
   * With `stdin`: it stays open when an attached client goes away, for the next attach
   * (Docker's StdinOnce false, or a TTY). Otherwise the first client's end closes it.
   */
  keepStdinOpen?: boolean;
  /** Initial terminal size when `tty`. */
  terminalSize?: TerminalSize;
  /** Resource limits (Docker's --ulimit): `type` as `nofile` or `RLIMIT_NOFILE`. */
  rlimits?: { type: string; soft: number; hard: number }[];
  /** More groups for the process (Docker's --group-add): names from the rootfs' /etc/group, or gids. */
  groupAdd?: string[];
}

/** A mount as a snapshotter describes it (e.g. overlay with lowerdir/upperdir options). */
export interface RootfsMount {
  type: string;
  source: string;
  options?: string[];
}

/**
 * The container's root filesystem. Exactly one of `path` (a directory prepared by
 * the caller), `mounts` (a snapshotter's mount list; the driver mounts them) or
 * `layers` (Windows: the layer folders, parent last) must be set.
 */
export interface RootfsSpec {
  path?: string;
  mounts?: RootfsMount[];
  layers?: string[];
  readonly?: boolean;
}

export interface MountSpec {
  /** `volume` is a directory the engine manages; it is bind-mounted like `bind`. */
  type: 'bind' | 'tmpfs' | 'volume';
  /** Host path for bind/volume; ignored for tmpfs. */
  source?: string;
  destination: string;
  /** Extra mount options (`size=64m`, `mode=1777`, `rprivate`, `nosuid`...). */
  options?: string[];
  readonly?: boolean;
}

export interface DeviceSpec {
  pathOnHost: string;
  /** Defaults to pathOnHost. */
  pathInContainer?: string;
  /** Subset of `rwm`; default `rwm`. */
  permissions?: string;
}

export interface ResourcesSpec {
  /** Memory limit in bytes. */
  memory?: number;
  /** Memory + swap limit in bytes (-1 unlimited), like Docker's MemorySwap. */
  memorySwap?: number;
  /** CPUs in units of 1e-9 CPUs (Docker's NanoCpus); becomes quota/period. */
  cpus?: number;
  cpuQuota?: number;
  cpuPeriod?: number;
  /** Relative weight (Docker's CpuShares, default 1024). */
  cpuShares?: number;
  /** Maximum number of tasks; <= 0 means unlimited. */
  pidsLimit?: number;
  /** CPUs and memory nodes the container may use (cpuset syntax: `0-2,4`). */
  cpusetCpus?: string;
  cpusetMems?: string;
  /** 0-100: how readily the kernel swaps the container's memory (cgroup v1 only, as Docker). */
  memorySwappiness?: number;
  /** -1000..1000, the process' oom_score_adj (Docker's OomScoreAdj); lowering it needs CAP_SYS_RESOURCE. */
  oomScoreAdj?: number;
}

export interface PortMapping {
  hostIp?: string;
  hostPort: number;
  containerPort: number;
  protocol?: 'tcp' | 'udp';
}

export interface DnsSpec {
  servers?: string[];
  search?: string[];
  options?: string[];
}

/** A network the container joins (bridge mode). */
export interface NetworkAttachment {
  name: string;
  aliases?: string[];
  ipv4Address?: string;
  ipv6Address?: string;
  /** The interface's MAC address. */
  mac?: string;
  /** Names this container alone resolves on the network: `alias` as `target` (a container name). */
  links?: { alias: string; target: string }[];
}

export interface NetworkSpec {
  /** `bridge`, `host`, `none` or `container:<id>` (join another container's netns). */
  mode: string;
  networks?: NetworkAttachment[];
  ports?: PortMapping[];
  dns?: DnsSpec;
  /** `host:ip` entries added to /etc/hosts. */
  extraHosts?: string[];
}

export interface IdMapping {
  containerId: number;
  hostId: number;
  size: number;
}

export interface UsernsSpec {
  uidMappings: IdMapping[];
  gidMappings: IdMapping[];
}

export interface SecuritySpec {
  /** All capabilities, no seccomp, no masked paths, all host devices. */
  privileged?: boolean;
  /** Capability names with or without `CAP_`, or `ALL`. */
  capAdd?: string[];
  capDrop?: string[];
  /** `default` (the driver's profile), `unconfined`, or a profile object (OCI/Docker seccomp JSON). */
  seccomp?: 'default' | 'unconfined' | { profile: unknown };
  noNewPrivileges?: boolean;
  readonlyRootfs?: boolean;
  /** Paths hidden from an unprivileged container; default MASKED_PATHS (Docker's HostConfig.MaskedPaths, the CRI's masked_paths). */
  maskedPaths?: string[];
  /** Paths mounted read-only in an unprivileged container; default READONLY_PATHS. */
  readonlyPaths?: string[];
  /** Run in a new user namespace with these maps. */
  userns?: UsernsSpec;
}

/** Defaults taken from the image config; ContainerSpec.process fields override them. */
export interface ImageDefaults {
  env?: string[];
  user?: string;
  workingDir?: string;
}

/** Everything a driver needs to create one container. */
export interface ContainerSpec {
  /** Unique id: [a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}. */
  id: string;
  platform?: Platform;
  isolation?: Isolation;
  process: ProcessSpec;
  image?: ImageDefaults;
  hostname?: string;
  domainname?: string;
  rootfs: RootfsSpec;
  mounts?: MountSpec[];
  devices?: DeviceSpec[];
  /** Extra device cgroup rules in Docker's syntax (`c 7:128 rwm`, `a *:* rwm`). */
  deviceCgroupRules?: string[];
  resources?: ResourcesSpec;
  /** Default `{ mode: 'none' }`. */
  network?: NetworkSpec;
  security?: SecuritySpec;
  /** Namespaces shared with the host instead of made anew (Docker's --pid/--ipc/--uts host). */
  hostNamespaces?: ('pid' | 'ipc' | 'uts')[];
  /**
   * The run id of another running container of this driver whose PID namespace this one
   * joins (Docker's `--pid container:<id>`, a pod's shared PID namespace).
   */
  pidNamespaceOf?: string;
  /** Namespaced kernel parameters (Docker's --sysctl). */
  sysctls?: Record<string, string>;
  /**
   * The container only holds its namespaces (network, IPC, UTS with its hostname, PID with
   * it as PID 1) for other containers to join: a pod's sandbox. A driver may then run a
   * pause process of its own instead of `process` — with no root filesystem, output, stdin
   * or exec — which starts faster; one that does not runs `process` as usual.
   */
  namespaceHolder?: boolean;
  labels?: Record<string, string>;
  /** Signal name or number sent by a graceful stop; default SIGTERM. */
  stopSignal?: string;
  /**
   * Where the driver writes the container's output log, in its own format (read it with
   * `logs()`). Default: in the driver's state, removed by delete. When given, the log is
   * the caller's: delete() leaves it and its rotated files, and a container created later
   * with the same logPath continues it (so `logs()` of that one shows the earlier runs too).
   */
  logPath?: string;
  /**
   * Docker json-file's max-size/max-file: once the log is over `maxSize` bytes the driver
   * rotates it, keeping at most `maxFiles` files (the live one included) without losing
   * the lines written meanwhile.
   */
  logLimits?: { maxSize: number; maxFiles: number };
}

/**
 * Docker's masked paths: kernel internals an unprivileged container must not read. Every
 * Linux driver applies them, and the engine shows them in inspect (HostConfig.MaskedPaths).
 */
/** Sysctls that live in the IPC namespace (of the namespaced ones, the rest are the network's: `net.*`). */
export const isIpcSysctl = (k: string): boolean => k.startsWith('kernel.shm') || k.startsWith('kernel.msg') || k === 'kernel.sem' || k.startsWith('fs.mqueue.');

export const MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats',
  '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi',
  '/sys/firmware', '/sys/devices/virtual/powercap',
];

/** Docker's read-only paths of an unprivileged container (HostConfig.ReadonlyPaths). */
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];
