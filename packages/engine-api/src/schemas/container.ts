import { anyObject, bool, int, nullable, str, strList, strMap, strSlice, type JsonSchema } from './json-schema.js';

const healthConfigSchema: JsonSchema = {
  type: ['object', 'null'],
  properties: { Test: strSlice, Interval: int, Timeout: int, Retries: int, StartPeriod: int, StartInterval: int },
};

const containerConfigProperties: Record<string, JsonSchema> = {
  Hostname: str,
  Domainname: str,
  User: str,
  AttachStdin: bool,
  AttachStdout: bool,
  AttachStderr: bool,
  ExposedPorts: anyObject,
  Tty: bool,
  OpenStdin: bool,
  StdinOnce: bool,
  Env: strList,
  Cmd: strSlice,
  Healthcheck: healthConfigSchema,
  ArgsEscaped: bool,
  Image: str,
  Volumes: anyObject,
  WorkingDir: str,
  Entrypoint: strSlice,
  NetworkDisabled: bool,
  MacAddress: str,
  OnBuild: strList,
  Labels: strMap,
  StopSignal: str,
  StopTimeout: int,
  Shell: strList,
};

export const containerConfigSchema: JsonSchema = {
  type: ['object', 'null'],
  properties: containerConfigProperties,
};

const portBindingsSchema: JsonSchema = {
  type: ['object', 'null'],
  additionalProperties: {
    type: ['array', 'null'],
    items: { type: 'object', properties: { HostIp: str, HostPort: str } },
  },
};

const restartPolicySchema: JsonSchema = {
  type: ['object', 'null'],
  properties: { Name: str, MaximumRetryCount: int },
};

const mountSchema: JsonSchema = {
  type: 'object',
  properties: {
    Target: str,
    Source: str,
    Type: { type: 'string', enum: ['bind', 'volume', 'tmpfs', 'image', 'npipe', 'cluster'] },
    ReadOnly: bool,
    Consistency: str,
    BindOptions: anyObject,
    VolumeOptions: anyObject,
    TmpfsOptions: anyObject,
    ImageOptions: anyObject,
  },
};

const resourcesProperties: Record<string, JsonSchema> = {
  CpuShares: int,
  Memory: int,
  CgroupParent: str,
  BlkioWeight: int,
  CpuPeriod: int,
  CpuQuota: int,
  CpuRealtimePeriod: int,
  CpuRealtimeRuntime: int,
  CpusetCpus: str,
  CpusetMems: str,
  Devices: { type: ['array', 'null'], items: { type: 'object' } },
  DeviceCgroupRules: strList,
  MemoryReservation: int,
  MemorySwap: int,
  MemorySwappiness: int,
  NanoCpus: int,
  OomKillDisable: bool,
  Init: bool,
  PidsLimit: int,
  Ulimits: {
    type: ['array', 'null'],
    items: { type: 'object', properties: { Name: str, Soft: int, Hard: int } },
  },
};

export const hostConfigSchema: JsonSchema = {
  type: ['object', 'null'],
  properties: {
    ...resourcesProperties,
    Binds: strList,
    ContainerIDFile: str,
    LogConfig: { type: ['object', 'null'], properties: { Type: str, Config: strMap } },
    NetworkMode: str,
    PortBindings: portBindingsSchema,
    RestartPolicy: restartPolicySchema,
    AutoRemove: bool,
    VolumeDriver: str,
    VolumesFrom: strList,
    Mounts: { type: ['array', 'null'], items: mountSchema },
    ConsoleSize: { type: ['array', 'null'], items: { type: 'integer' } },
    Annotations: strMap,
    CapAdd: strList,
    CapDrop: strList,
    CgroupnsMode: str,
    Dns: strList,
    DnsOptions: strList,
    DnsSearch: strList,
    ExtraHosts: strList,
    GroupAdd: strList,
    IpcMode: str,
    Cgroup: str,
    Links: strList,
    OomScoreAdj: int,
    PidMode: str,
    Privileged: bool,
    PublishAllPorts: bool,
    ReadonlyRootfs: bool,
    SecurityOpt: strList,
    StorageOpt: strMap,
    Tmpfs: strMap,
    UTSMode: str,
    UsernsMode: str,
    ShmSize: int,
    Sysctls: strMap,
    Runtime: str,
    Isolation: str,
    MaskedPaths: strList,
    ReadonlyPaths: strList,
  },
};

export const endpointSettingsSchema: JsonSchema = {
  type: ['object', 'null'],
  properties: {
    IPAMConfig: anyObject,
    Links: strList,
    MacAddress: nullable('string'),
    Aliases: strList,
    DriverOpts: strMap,
    DNSNames: strList,
  },
};

export const networkingConfigSchema: JsonSchema = {
  type: ['object', 'null'],
  properties: {
    EndpointsConfig: { type: ['object', 'null'], additionalProperties: endpointSettingsSchema },
  },
};

/** POST /containers/create */
export const containerCreateBodySchema: JsonSchema = {
  type: 'object',
  properties: {
    ...containerConfigProperties,
    HostConfig: hostConfigSchema,
    NetworkingConfig: networkingConfigSchema,
  },
};

/** POST /containers/{id}/update */
export const containerUpdateBodySchema: JsonSchema = {
  type: 'object',
  properties: { ...resourcesProperties, RestartPolicy: restartPolicySchema },
};

/** POST /containers/{id}/exec */
export const execCreateBodySchema: JsonSchema = {
  type: 'object',
  required: ['Cmd'],
  properties: {
    AttachStdin: bool,
    AttachStdout: bool,
    AttachStderr: bool,
    ConsoleSize: { type: ['array', 'null'], items: { type: 'integer' } },
    DetachKeys: str,
    Tty: bool,
    Env: strList,
    Cmd: strSlice,
    Privileged: bool,
    User: str,
    WorkingDir: str,
  },
};

/** POST /exec/{id}/start */
export const execStartBodySchema: JsonSchema = {
  type: ['object', 'null'],
  properties: { Detach: bool, Tty: bool, ConsoleSize: { type: ['array', 'null'], items: { type: 'integer' } } },
};
