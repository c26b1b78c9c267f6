// Docker Engine API shapes (moby api/swagger.yaml, API 1.50) that the engine returns as is,
// so berthd's routes only serialise them. Field names are Docker's, PascalCase included.

/** Docker's filter argument: `{"status": ["running"]}` or the legacy `{"status": {"running": true}}`. */
export type Filters = Record<string, string[] | Record<string, boolean>>;

export interface RestartPolicy {
  /** '' and 'no' both mean never. */
  Name?: '' | 'no' | 'always' | 'unless-stopped' | 'on-failure';
  MaximumRetryCount?: number;
}

export interface PortBinding {
  HostIp?: string;
  HostPort?: string;
}

/** `{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}` */
export type PortMap = Record<string, PortBinding[] | null>;

export interface MountSpec {
  Target: string;
  Source?: string;
  Type: 'bind' | 'volume' | 'tmpfs' | 'npipe' | 'cluster' | 'image';
  ReadOnly?: boolean;
  Consistency?: string;
  BindOptions?: { Propagation?: string; NonRecursive?: boolean; CreateMountpoint?: boolean };
  VolumeOptions?: { NoCopy?: boolean; Labels?: Record<string, string>; Subpath?: string };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number; Options?: string[][] };
}

export interface DeviceMapping {
  PathOnHost: string;
  PathInContainer?: string;
  CgroupPermissions?: string;
}

export interface Ulimit {
  Name: string;
  Soft: number;
  Hard: number;
}

export interface HostConfig {
  Binds?: string[] | null;
  ContainerIDFile?: string;
  LogConfig?: { Type?: string; Config?: Record<string, string> };
  NetworkMode?: string;
  PortBindings?: PortMap | null;
  RestartPolicy?: RestartPolicy;
  AutoRemove?: boolean;
  VolumeDriver?: string;
  VolumesFrom?: string[] | null;
  Mounts?: MountSpec[] | null;
  ConsoleSize?: [number, number] | null;
  CapAdd?: string[] | null;
  CapDrop?: string[] | null;
  CgroupnsMode?: string;
  Dns?: string[] | null;
  DnsOptions?: string[] | null;
  DnsSearch?: string[] | null;
  ExtraHosts?: string[] | null;
  GroupAdd?: string[] | null;
  IpcMode?: string;
  PidMode?: string;
  UTSMode?: string;
  UsernsMode?: string;
  Privileged?: boolean;
  PublishAllPorts?: boolean;
  ReadonlyRootfs?: boolean;
  SecurityOpt?: string[] | null;
  Tmpfs?: Record<string, string> | null;
  ShmSize?: number;
  Sysctls?: Record<string, string> | null;
  Runtime?: string;
  Isolation?: string;
  Init?: boolean | null;
  // Resources
  Memory?: number;
  MemorySwap?: number;
  MemoryReservation?: number;
  NanoCpus?: number;
  CpuShares?: number;
  CpuPeriod?: number;
  CpuQuota?: number;
  CpusetCpus?: string;
  CpusetMems?: string;
  PidsLimit?: number | null;
  OomKillDisable?: boolean | null;
  Devices?: DeviceMapping[] | null;
  Ulimits?: Ulimit[] | null;
  [extra: string]: unknown;
}

export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  Retries?: number;
  StartPeriod?: number;
}

/** The image-independent part of a container's config (`Config` in inspect). */
export interface ContainerConfig {
  Hostname?: string;
  Domainname?: string;
  User?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  ExposedPorts?: Record<string, object> | null;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Env?: string[] | null;
  Cmd?: string[] | string | null;
  Healthcheck?: HealthConfig;
  ArgsEscaped?: boolean | null;
  Image?: string;
  Volumes?: Record<string, object> | null;
  WorkingDir?: string;
  Entrypoint?: string[] | string | null;
  NetworkDisabled?: boolean;
  MacAddress?: string;
  OnBuild?: string[] | null;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  StopTimeout?: number | null;
  Shell?: string[] | null;
}

export interface EndpointSettings {
  IPAMConfig?: { IPv4Address?: string; IPv6Address?: string } | null;
  Links?: string[] | null;
  Aliases?: string[] | null;
  MacAddress?: string;
  NetworkID?: string;
  EndpointID?: string;
  Gateway?: string;
  IPAddress?: string;
  IPPrefixLen?: number;
  IPv6Gateway?: string;
  GlobalIPv6Address?: string;
  GlobalIPv6PrefixLen?: number;
  DriverOpts?: Record<string, string> | null;
  DNSNames?: string[] | null;
}

/** Body of `POST /containers/create`. */
export interface ContainerCreateBody extends ContainerConfig {
  Image: string;
  HostConfig?: HostConfig;
  NetworkingConfig?: { EndpointsConfig?: Record<string, EndpointSettings> };
}

export interface ContainerCreateResponse {
  Id: string;
  Warnings: string[];
}

export interface Port {
  IP?: string;
  PrivatePort: number;
  PublicPort?: number;
  Type: 'tcp' | 'udp' | 'sctp';
}

export interface MountPoint {
  Type: 'bind' | 'volume' | 'tmpfs' | 'npipe' | 'cluster' | 'image';
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
}

export type ContainerStateName = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

/** One row of `GET /containers/json`. */
export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  Created: number;
  Ports: Port[];
  SizeRw?: number;
  SizeRootFs?: number;
  Labels: Record<string, string>;
  State: ContainerStateName;
  /** `Up 3 seconds`, `Exited (0) 2 seconds ago`, `Created`, `Up 5 minutes (Paused)`. */
  Status: string;
  HostConfig: { NetworkMode: string; Annotations?: Record<string, string> };
  NetworkSettings: { Networks: Record<string, EndpointSettings> };
  Mounts: MountPoint[];
}

export interface ContainerState {
  Status: ContainerStateName;
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  Health?: { Status: 'starting' | 'healthy' | 'unhealthy'; FailingStreak: number; Log: { Start: string; End: string; ExitCode: number; Output: string }[] };
}

export interface NetworkSettings {
  Bridge: string;
  SandboxID: string;
  SandboxKey: string;
  Ports: PortMap;
  HairpinMode: boolean;
  LinkLocalIPv6Address: string;
  LinkLocalIPv6PrefixLen: number;
  SecondaryIPAddresses: null;
  SecondaryIPv6Addresses: null;
  EndpointID: string;
  Gateway: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  IPAddress: string;
  IPPrefixLen: number;
  IPv6Gateway: string;
  MacAddress: string;
  Networks: Record<string, EndpointSettings>;
}

/** `GET /containers/{id}/json`. */
export interface ContainerInspect {
  Id: string;
  Created: string;
  Path: string;
  Args: string[];
  State: ContainerState;
  Image: string;
  ResolvConfPath: string;
  HostnamePath: string;
  HostsPath: string;
  LogPath: string;
  Name: string;
  RestartCount: number;
  Driver: string;
  Platform: string;
  MountLabel: string;
  ProcessLabel: string;
  AppArmorProfile: string;
  ExecIDs: string[] | null;
  HostConfig: HostConfig;
  GraphDriver: { Name: string; Data: Record<string, string> | null };
  SizeRw?: number;
  SizeRootFs?: number;
  Mounts: MountPoint[];
  Config: ContainerConfig;
  NetworkSettings: NetworkSettings;
}

export interface ContainerWaitResponse {
  StatusCode: number;
  Error?: { Message: string } | null;
}

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

/** One line of a container's output (logs and attach). `data` keeps its trailing newline. */
export interface OutputChunk {
  stream: 'stdout' | 'stderr';
  data: Buffer;
  /** RFC 3339 with nanoseconds, as the log file recorded it (logs only). */
  timestamp?: string;
}

export interface ExecCreateBody {
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  ConsoleSize?: [number, number] | null;
  DetachKeys?: string;
  Tty?: boolean;
  Env?: string[] | null;
  Cmd: string[];
  Privileged?: boolean;
  User?: string;
  WorkingDir?: string;
}

export interface ExecInspect {
  CanRemove: boolean;
  DetachKeys: string;
  ID: string;
  Running: boolean;
  ExitCode: number | null;
  ProcessConfig: { privileged: boolean; user: string; tty: boolean; entrypoint: string; arguments: string[] };
  OpenStdin: boolean;
  OpenStderr: boolean;
  OpenStdout: boolean;
  ContainerID: string;
  Pid: number;
}

export interface ContainerStats {
  read: string;
  preread: string;
  pids_stats: { current?: number; limit?: number };
  num_procs: number;
  cpu_stats: {
    cpu_usage: { total_usage: number; usage_in_kernelmode: number; usage_in_usermode: number; percpu_usage?: number[] };
    system_cpu_usage?: number;
    online_cpus?: number;
    throttling_data: { periods: number; throttled_periods: number; throttled_time: number };
  };
  precpu_stats: ContainerStats['cpu_stats'];
  memory_stats: { usage?: number; limit?: number; stats?: Record<string, number> };
  blkio_stats: Record<string, unknown>;
  networks?: Record<string, { rx_bytes: number; tx_bytes: number; rx_packets: number; tx_packets: number }>;
  name: string;
  id: string;
}

export interface ContainerTop {
  Titles: string[];
  Processes: string[][];
}

// ---- images ----

export interface ImageSummary {
  Id: string;
  ParentId: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: number;
  Size: number;
  SharedSize: number;
  VirtualSize?: number;
  Labels: Record<string, string>;
  Containers: number;
}

export interface ImageInspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Parent: string;
  Comment: string;
  Created: string;
  DockerVersion: string;
  Author: string;
  Config: ContainerConfig;
  Architecture: string;
  Variant?: string;
  Os: string;
  OsVersion?: string;
  Size: number;
  VirtualSize?: number;
  GraphDriver: { Name: string; Data: Record<string, string> | null };
  RootFS: { Type: string; Layers: string[] };
  Metadata: { LastTagTime: string };
}

export interface ImageHistoryItem {
  Id: string;
  Created: number;
  CreatedBy: string;
  Tags: string[] | null;
  Size: number;
  Comment: string;
}

export type ImageDeleteItem = { Untagged: string } | { Deleted: string };

/** A line of Docker's JSON progress stream (pull, push, load, import). */
export interface ProgressMessage {
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  stream?: string;
  aux?: Record<string, unknown>;
  error?: string;
  errorDetail?: { message: string };
}

export interface RegistryAuth {
  username?: string;
  password?: string;
  /** An identity/refresh token, as `docker login` stores. */
  identitytoken?: string;
  registrytoken?: string;
  serveraddress?: string;
}

// ---- volumes ----

export interface Volume {
  Name: string;
  Driver: string;
  Mountpoint: string;
  CreatedAt: string;
  Status?: Record<string, unknown>;
  Labels: Record<string, string>;
  Scope: 'local' | 'global';
  Options: Record<string, string> | null;
  UsageData?: { Size: number; RefCount: number } | null;
}

export interface VolumeCreateBody {
  Name?: string;
  Driver?: string;
  DriverOpts?: Record<string, string>;
  Labels?: Record<string, string>;
}

// ---- networks ----

export interface IPAMConfig {
  Subnet?: string;
  IPRange?: string;
  Gateway?: string;
  AuxiliaryAddresses?: Record<string, string>;
}

export interface NetworkCreateBody {
  Name: string;
  Driver?: string;
  Scope?: string;
  Internal?: boolean;
  Attachable?: boolean;
  Ingress?: boolean;
  EnableIPv4?: boolean;
  EnableIPv6?: boolean;
  IPAM?: { Driver?: string; Config?: IPAMConfig[]; Options?: Record<string, string> };
  Options?: Record<string, string>;
  Labels?: Record<string, string>;
  CheckDuplicate?: boolean;
}

export interface NetworkInspect {
  Name: string;
  Id: string;
  Created: string;
  Scope: string;
  Driver: string;
  EnableIPv4: boolean;
  EnableIPv6: boolean;
  IPAM: { Driver: string; Options: Record<string, string> | null; Config: IPAMConfig[] };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  Containers: Record<string, { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string; IPv6Address: string }>;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

// ---- events & system ----

export type EventType = 'container' | 'image' | 'volume' | 'network' | 'daemon' | 'plugin' | 'node' | 'service' | 'secret' | 'config';

/** A message of `GET /events`. */
export interface EventMessage {
  Type: EventType;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local' | 'swarm';
  time: number;
  timeNano: number;
  // Legacy fields the docker CLI still prints for containers and images.
  status?: string;
  id?: string;
  from?: string;
}

export interface SystemInfo {
  ID: string;
  Containers: number;
  ContainersRunning: number;
  ContainersPaused: number;
  ContainersStopped: number;
  Images: number;
  Driver: string;
  DriverStatus: [string, string][];
  Plugins: { Volume: string[]; Network: string[]; Authorization: string[] | null; Log: string[] };
  MemoryLimit: boolean;
  SwapLimit: boolean;
  CpuCfsPeriod: boolean;
  CpuCfsQuota: boolean;
  CPUShares: boolean;
  PidsLimit: boolean;
  IPv4Forwarding: boolean;
  Debug: boolean;
  NFd: number;
  NGoroutines: number;
  SystemTime: string;
  LoggingDriver: string;
  CgroupDriver: string;
  CgroupVersion: string;
  NEventsListener: number;
  KernelVersion: string;
  OperatingSystem: string;
  OSVersion: string;
  OSType: string;
  Architecture: string;
  NCPU: number;
  MemTotal: number;
  IndexServerAddress: string;
  RegistryConfig: { InsecureRegistryCIDRs: string[]; IndexConfigs: Record<string, unknown>; Mirrors: string[] };
  DockerRootDir: string;
  HttpProxy: string;
  HttpsProxy: string;
  NoProxy: string;
  Name: string;
  Labels: string[];
  ExperimentalBuild: boolean;
  ServerVersion: string;
  Runtimes: Record<string, { path: string }>;
  DefaultRuntime: string;
  LiveRestoreEnabled: boolean;
  Isolation: string;
  InitBinary: string;
  SecurityOptions: string[];
  Warnings: string[] | null;
}

export interface SystemDf {
  LayersSize: number;
  Images: ImageSummary[];
  Containers: ContainerSummary[];
  Volumes: Volume[];
  BuildCache: unknown[];
}

export interface PruneReport {
  /** IDs/names deleted; the route renames this to ContainersDeleted/ImagesDeleted/VolumesDeleted/NetworksDeleted. */
  SpaceReclaimed: number;
}
