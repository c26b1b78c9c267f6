import { readFileSync } from 'node:fs';
import { arch, cpus, hostname, release, totalmem } from 'node:os';
import type { SystemDf, SystemInfo } from './docker-types.js';
import type { SystemService } from './services.js';

export const ENGINE_VERSION = '0.1.0';

export interface SystemDeps {
  root: string;
  id: string;
  /** The registered runtime drivers' names (`linux/crun`), the default first. */
  runtimes: readonly string[];
  osType: 'linux' | 'windows';
  /** docker info's storage Driver (`overlay2`; `windowsfilter` with the Windows layer store). */
  storageDriver?: string;
  /** The daemon's default isolation: `process` or `hyperv` on Windows, none on Linux. */
  isolation: string;
  insecureRegistries: string[];
  mirrors: string[];
  counts(): { containers: number; running: number; paused: number; stopped: number; images: number };
  listeners(): number;
  df(): Promise<SystemDf>;
}

/** Docker names runtimes by their binary (`runc`): a driver `linux/crun` is `crun`. */
function runtimeKey(driverName: string): string {
  return driverName.split('/').pop() ?? driverName;
}

function goArch(): string {
  return arch() === 'x64' ? 'x86_64' : arch() === 'arm64' ? 'aarch64' : arch();
}

function osName(): string {
  try {
    return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'Linux';
  } catch {
    return 'Linux';
  }
}

export class System implements SystemService {
  constructor(private readonly deps: SystemDeps) {}

  async info(): Promise<SystemInfo> {
    const c = this.deps.counts();
    const cgroup2Only = (() => {
      try {
        return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => / \/sys\/fs\/cgroup .* - cgroup2 /.test(l));
      } catch {
        return false;
      }
    })();
    return {
      ID: this.deps.id,
      Containers: c.containers,
      ContainersRunning: c.running,
      ContainersPaused: c.paused,
      ContainersStopped: c.stopped,
      Images: c.images,
      Driver: this.deps.storageDriver ?? 'overlay2',
      DriverStatus: [['Backing Filesystem', 'extfs']],
      Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'null'], Authorization: null, Log: ['awslogs', 'fluentd', 'gcplogs', 'gelf', 'journald', 'json-file', 'local', 'logentries', 'splunk', 'syslog'] },
      MemoryLimit: true,
      SwapLimit: true,
      CpuCfsPeriod: true,
      CpuCfsQuota: true,
      CPUShares: true,
      PidsLimit: true,
      IPv4Forwarding: true,
      Debug: false,
      NFd: 0,
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: 'json-file',
      CgroupDriver: 'cgroupfs',
      CgroupVersion: cgroup2Only ? '2' : '1',
      NEventsListener: this.deps.listeners(),
      KernelVersion: release(),
      OperatingSystem: osName(),
      OSVersion: '',
      OSType: this.deps.osType,
      Architecture: goArch(),
      NCPU: cpus().length,
      MemTotal: totalmem(),
      IndexServerAddress: 'https://index.docker.io/v1/',
      RegistryConfig: { InsecureRegistryCIDRs: ['127.0.0.0/8', '::1/128'], IndexConfigs: {}, Mirrors: this.deps.mirrors },
      DockerRootDir: this.deps.root,
      HttpProxy: process.env.HTTP_PROXY ?? '',
      HttpsProxy: process.env.HTTPS_PROXY ?? '',
      NoProxy: process.env.NO_PROXY ?? '',
      Name: hostname(),
      Labels: [],
      ExperimentalBuild: false,
      ServerVersion: ENGINE_VERSION,
      Runtimes: Object.fromEntries(this.deps.runtimes.map((n) => [runtimeKey(n), { path: runtimeKey(n) }])),
      DefaultRuntime: runtimeKey(this.deps.runtimes[0] ?? ''),
      LiveRestoreEnabled: true,
      Isolation: this.deps.isolation,
      InitBinary: '',
      SecurityOptions: ['name=seccomp,profile=builtin'],
      Warnings: null,
    };
  }

  df(): Promise<SystemDf> {
    return this.deps.df();
  }

  version(): ReturnType<SystemService['version']> {
    return {
      Version: ENGINE_VERSION,
      Os: 'linux',
      Arch: arch() === 'x64' ? 'amd64' : arch(),
      KernelVersion: release(),
      GitCommit: '',
      GoVersion: `node${process.versions.node}`,
      BuildTime: '',
    };
  }
}
