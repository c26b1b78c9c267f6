import { InvalidArgumentError } from '@berth/image-format';
import { MASKED_PATHS, READONLY_PATHS, type ContainerSpec, type MountSpec, type ResourcesSpec } from '@berth/runtime';
import { resolveCapabilities } from '../security/capabilities.js';
import { defaultSeccompProfile, toOciSeccomp, type OciSeccomp } from '../security/seccomp.js';
import type { ContainerUser } from '../user/resolve-user.js';
import type { DeviceRule } from '../devices.js';
import { rootfsPropagation } from '../rootfs/propagation.js';

/** The subset of the OCI runtime-spec config.json Berth writes. */
export interface OciConfig {
  ociVersion: string;
  process: OciProcess;
  root: { path: string; readonly: boolean };
  hostname?: string;
  domainname?: string;
  mounts: OciMount[];
  linux: Record<string, unknown> & { namespaces: { type: string; path?: string }[] };
  annotations?: Record<string, string>;
}

interface OciProcess {
  terminal: boolean;
  consoleSize?: { height: number; width: number };
  user: { uid: number; gid: number; additionalGids?: number[] };
  args: string[];
  env: string[];
  cwd: string;
  capabilities: Record<'bounding' | 'effective' | 'permitted' | 'inheritable' | 'ambient', string[]>;
  rlimits?: { type: string; hard: number; soft: number }[];
  noNewPrivileges: boolean;
  oomScoreAdj?: number;
}

interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export interface OciDevice {
  path: string;
  type: string;
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Character devices every container gets in its cgroup allow-list (the OCI defaults + tun). */
const DEFAULT_DEVICE_RULES = [
  { allow: false, access: 'rwm' },
  { allow: true, type: 'c', access: 'm' },
  { allow: true, type: 'b', access: 'm' },
  ...[
    [1, 3], [1, 5], [1, 7], [1, 8], [1, 9], [5, 0], [5, 1], [5, 2], [10, 200],
  ].map(([major, minor]) => ({ allow: true, type: 'c', major, minor, access: 'rwm' })),
  { allow: true, type: 'c', major: 136, access: 'rwm' },
];

interface ConfigInput {
  spec: ContainerSpec;
  rootfsPath: string;
  user: ContainerUser;
  env: string[];
  cwd: string;
  args: string[];
  /** bundle files bind-mounted over /etc/hostname, /etc/hosts, /etc/resolv.conf. */
  etcFiles: { hostname?: string; hosts?: string; resolvConf?: string };
  /** Network namespace: 'new', 'host', or a path to join. */
  netns: 'new' | 'host' | { path: string };
  /** Another container's PID namespace to join (`spec.pidNamespaceOf` resolved to its path). */
  pidns?: { path: string };
  cgroupsPath: string;
  /** Host rlimits the container may not exceed (no CAP_SYS_RESOURCE here). */
  hostNofileHard?: number;
  swapLimitSupported: boolean;
  /** cgroup v1's memory controller: the only place memory.swappiness exists. */
  swappinessSupported?: boolean;
  devices: OciDevice[];
  /** Extra device cgroup rules for the devices above. */
  deviceRules: DeviceRule[];
  hostArch?: string;
  /** The host's capability bounding set. */
  hostCapabilities?: string[];
}

function mountOptions(m: MountSpec): string[] {
  const opts = [...(m.options ?? [])];
  if (m.type === 'tmpfs') {
    if (!opts.some((o) => ['nosuid', 'suid'].includes(o))) opts.push('nosuid');
    if (!opts.some((o) => ['nodev', 'dev'].includes(o))) opts.push('nodev');
  } else {
    if (!opts.includes('bind') && !opts.includes('rbind')) opts.push('rbind');
    if (!opts.some((o) => /^r?(private|shared|slave)$/.test(o))) opts.push('rprivate');
  }
  if (m.readonly && !opts.includes('ro')) opts.push('ro');
  return opts;
}

function resources(r: ResourcesSpec | undefined, swapSupported: boolean, swappinessSupported: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!r) return out;
  if (r.memory !== undefined && r.memory > 0) {
    const memory: Record<string, number> = { limit: r.memory };
    if (swapSupported) {
      // Docker: unset swap means memory*2 in total; -1 unlimited
      const swap = r.memorySwap === undefined || r.memorySwap === 0 ? r.memory * 2 : r.memorySwap;
      memory.swap = swap;
    }
    out.memory = memory;
  }
  if (swappinessSupported && r.memorySwappiness !== undefined && r.memorySwappiness >= 0) {
    out.memory = { ...(out.memory as Record<string, number> | undefined), swappiness: r.memorySwappiness };
  }
  const cpu: Record<string, number | string> = {};
  if (r.cpus !== undefined && r.cpus > 0) {
    cpu.period = 100000;
    cpu.quota = Math.max(1000, Math.round((r.cpus * 100000) / 1e9));
  }
  if (r.cpuQuota !== undefined && r.cpuQuota > 0) cpu.quota = r.cpuQuota;
  if (r.cpuPeriod !== undefined && r.cpuPeriod > 0) cpu.period = r.cpuPeriod;
  if (r.cpuShares !== undefined && r.cpuShares > 0) cpu.shares = r.cpuShares;
  if (Object.keys(cpu).length > 0) out.cpu = cpu;
  if (r.cpusetCpus) cpu.cpus = r.cpusetCpus;
  if (r.cpusetMems) cpu.mems = r.cpusetMems;
  if (Object.keys(cpu).length > 0) out.cpu = cpu;
  if (r.pidsLimit !== undefined && r.pidsLimit > 0) out.pids = { limit: r.pidsLimit };
  return out;
}

const RLIMITS = ['as', 'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack'];

/** `nofile` -> `RLIMIT_NOFILE` (Docker's --ulimit names); an unknown name is refused. */
function rlimitName(name: string): string {
  const short = name.toLowerCase().replace(/^rlimit_/, '');
  if (!RLIMITS.includes(short)) throw new InvalidArgumentError(`invalid ulimit type: ${name}`);
  return `RLIMIT_${short.toUpperCase()}`;
}

/** Builds config.json for one container from its spec and what the driver resolved. */
export function buildOciConfig(input: ConfigInput): OciConfig {
  const { spec } = input;
  const sec = spec.security ?? {};
  const privileged = sec.privileged === true;
  const caps = resolveCapabilities(sec, input.hostCapabilities);
  const readonlyRoot = sec.readonlyRootfs === true || spec.rootfs.readonly === true;

  const process: OciProcess = {
    terminal: spec.process.tty === true,
    user: { uid: input.user.uid, gid: input.user.gid },
    args: input.args,
    env: input.env,
    cwd: input.cwd,
    capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] },
    noNewPrivileges: sec.noNewPrivileges === true,
  };
  if (input.user.additionalGids.length > 0) process.user.additionalGids = input.user.additionalGids;
  if (spec.resources?.oomScoreAdj) process.oomScoreAdj = spec.resources.oomScoreAdj;
  if (spec.process.tty && spec.process.terminalSize) process.consoleSize = { ...spec.process.terminalSize };
  if (input.hostNofileHard !== undefined) {
    const n = Math.min(1048576, input.hostNofileHard);
    process.rlimits = [{ type: 'RLIMIT_NOFILE', hard: n, soft: n }];
  }
  for (const l of spec.process.rlimits ?? []) {
    const type = rlimitName(l.type);
    // the runtime cannot raise a hard limit above what it has itself (no CAP_SYS_RESOURCE)
    const cap = type === 'RLIMIT_NOFILE' && input.hostNofileHard !== undefined ? input.hostNofileHard : Infinity;
    const hard = Math.min(l.hard, cap);
    process.rlimits = [...(process.rlimits ?? []).filter((x) => x.type !== type), { type, hard, soft: Math.min(l.soft, hard) }];
  }

  const sysOpts = ['nosuid', 'noexec', 'nodev', privileged ? 'rw' : 'ro'];
  const mounts: OciMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: sysOpts },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: [...sysOpts, 'relatime'] },
  ];
  if (input.netns === 'host' && !sec.userns) {
    // sysfs of the host network namespace cannot be mounted anew without owning it
    const sys = mounts.find((m) => m.destination === '/sys') as OciMount;
    sys.type = 'bind';
    sys.source = '/sys';
    sys.options = ['rbind', 'nosuid', 'noexec', 'nodev', privileged ? 'rw' : 'ro'];
  }
  const etc: [string, string | undefined][] = [
    ['/etc/hostname', input.etcFiles.hostname],
    ['/etc/hosts', input.etcFiles.hosts],
    ['/etc/resolv.conf', input.etcFiles.resolvConf],
  ];
  const userDestinations = new Set((spec.mounts ?? []).map((m) => m.destination));
  for (const [dest, src] of etc) {
    if (src && !userDestinations.has(dest)) {
      mounts.push({ destination: dest, type: 'bind', source: src, options: ['rbind', 'rprivate', readonlyRoot ? 'ro' : 'rw'] });
    }
  }
  for (const m of spec.mounts ?? []) {
    if (m.type === 'tmpfs') mounts.push({ destination: m.destination, type: 'tmpfs', source: 'tmpfs', options: mountOptions(m) });
    else mounts.push({ destination: m.destination, type: 'bind', source: m.source as string, options: mountOptions(m) });
  }

  const shared = new Set(spec.hostNamespaces ?? []);
  const namespaces: { type: string; path?: string }[] = [
    ...(['pid', 'ipc', 'uts'] as const).filter((t) => !shared.has(t)).map((type) => (type === 'pid' && input.pidns ? { type, path: input.pidns.path } : { type })),
    { type: 'mount' },
    { type: 'cgroup' },
  ];
  if (input.netns === 'new') namespaces.push({ type: 'network' });
  else if (input.netns !== 'host') namespaces.push({ type: 'network', path: input.netns.path });
  if (sec.userns) namespaces.push({ type: 'user' });

  const linux: OciConfig['linux'] = {
    namespaces,
    cgroupsPath: input.cgroupsPath,
    resources: {
      ...resources(spec.resources, input.swapLimitSupported, input.swappinessSupported === true),
      devices: privileged ? [{ allow: true, access: 'rwm' }] : [...DEFAULT_DEVICE_RULES, ...input.deviceRules],
    },
  };
  if (input.devices.length > 0) linux.devices = input.devices;
  // a bind's rshared/rslave only reaches the host's mounts through a root that propagates too
  const rootProp = rootfsPropagation(spec.mounts ?? []);
  if (rootProp) linux.rootfsPropagation = rootProp;
  if (spec.sysctls && Object.keys(spec.sysctls).length > 0) linux.sysctl = { ...spec.sysctls };
  if (sec.userns) {
    const map = (m: { containerId: number; hostId: number; size: number }) => ({ containerID: m.containerId, hostID: m.hostId, size: m.size });
    linux.uidMappings = sec.userns.uidMappings.map(map);
    linux.gidMappings = sec.userns.gidMappings.map(map);
  }
  if (!privileged) {
    linux.maskedPaths = sec.maskedPaths ?? MASKED_PATHS;
    linux.readonlyPaths = sec.readonlyPaths ?? READONLY_PATHS;
    let seccomp: OciSeccomp | undefined;
    const choice = sec.seccomp ?? 'default';
    if (choice === 'default') seccomp = defaultSeccompProfile(caps, input.hostArch);
    else if (choice !== 'unconfined') seccomp = toOciSeccomp(choice.profile, caps, input.hostArch);
    if (seccomp) linux.seccomp = seccomp;
  }

  const config: OciConfig = {
    ociVersion: '1.0.2',
    process,
    root: { path: input.rootfsPath, readonly: readonlyRoot },
    mounts,
    linux,
  };
  // a shared UTS namespace is the host's name: the runtime may not set one
  if (input.netns !== 'host' && !shared.has('uts') && spec.hostname) config.hostname = spec.hostname;
  if (input.netns !== 'host' && spec.domainname) config.domainname = spec.domainname;
  const annotations = labelsAsAnnotations(spec.labels);
  if (annotations) config.annotations = annotations;
  return config;
}

/**
 * Labels travel to the runtime as annotations, except `run.oci.*`: crun acts on those
 * (a precompiled seccomp filter, hooks' output, the handler), and a user's label must never
 * change how the runtime runs the container.
 */
export function labelsAsAnnotations(labels: Record<string, string> | undefined): Record<string, string> | undefined {
  const kept = Object.entries(labels ?? {}).filter(([key]) => !key.startsWith(RUNTIME_ANNOTATION_PREFIX));
  return kept.length > 0 ? Object.fromEntries(kept) : undefined;
}

const RUNTIME_ANNOTATION_PREFIX = 'run.oci.';

/** Image env, then the container's env (later wins), PATH and HOME filled when missing. */
export function mergeEnv(imageEnv: string[] | undefined, userEnv: string[] | undefined, home: string): string[] {
  const map = new Map<string, string>();
  for (const e of [...(imageEnv ?? []), ...(userEnv ?? [])]) {
    const eq = e.indexOf('=');
    const key = eq < 0 ? e : e.slice(0, eq);
    if (key === '') continue;
    map.set(key, eq < 0 ? '' : e.slice(eq + 1));
  }
  if (!map.has('PATH')) map.set('PATH', DEFAULT_PATH);
  if (!map.has('HOME')) map.set('HOME', home);
  return [...map].map(([k, v]) => `${k}=${v}`);
}
