// Docker Engine API shapes (moby api/swagger.yaml, API 1.50) that the engine returns as is,
// so berthd's routes only serialise them. They live in @berth/engine-api (the one home of
// the wire shapes, shared with the client and the CLI); the engine re-exports them under
// the names its callers already use and keeps here only what is its own.

export type {
  Filters,
  RestartPolicy,
  PortBinding,
  PortMap,
  MountType,
  DeviceMapping,
  Ulimit,
  HostConfig,
  HealthConfig,
  ContainerConfig,
  EndpointSettings,
  ContainerCreateBody,
  ContainerCreateResponse,
  Port,
  MountPoint,
  ContainerSummary,
  ContainerState,
  ContainerHealth,
  HealthcheckResult,
  NetworkSettings,
  ContainerInspect,
  ContainerWaitResponse,
  WaitCondition,
  ExecCreateBody,
  ExecInspect,
  ContainerStats,
  ImageSummary,
  ImageInspect,
  ImageHistoryItem,
  ImageDeleteItem,
  Volume,
  VolumeCreateBody,
  NetworkCreateBody,
  EventType,
  EventMessage,
  SystemInfo,
} from '@berth/engine-api';

import type {
  AuthConfig,
  ContainerStatus,
  ContainerTopResponse,
  IpamConfig,
  JsonMessage,
  Mount,
  Network,
  SystemDataUsage,
} from '@berth/engine-api';

// The engine's names for shapes engine-api calls otherwise.
/**
 * One entry of HostConfig.Mounts as the engine reads it: with a Target. engine-api's `Mount`
 * leaves Target optional (a client may omit it) and the create schema does not require it yet.
 */
export type MountSpec = Mount & { Target: string };
export type ContainerStateName = ContainerStatus;
export type ContainerTop = ContainerTopResponse;
/** A line of Docker's JSON progress stream (pull, push, load, import). */
export type ProgressMessage = JsonMessage;
export type RegistryAuth = AuthConfig;
export type IPAMConfig = IpamConfig;
export type NetworkInspect = Network;
export type SystemDf = SystemDataUsage;

/** One line of a container's output (logs and attach). `data` keeps its trailing newline. */
export interface OutputChunk {
  stream: 'stdout' | 'stderr';
  data: Buffer;
  /** RFC 3339 with nanoseconds, as the log file recorded it (logs only). */
  timestamp?: string;
}

export interface PruneReport {
  /** IDs/names deleted; the route renames this to ContainersDeleted/ImagesDeleted/VolumesDeleted/NetworksDeleted. */
  SpaceReclaimed: number;
}
