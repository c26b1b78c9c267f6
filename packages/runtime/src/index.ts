/**
 * @berth/runtime — the contract between the engine and a runtime driver: what a
 * container is (`ContainerSpec`), what a driver does (`RuntimeDriver`), and the events
 * it emits. The conformance suite every driver runs lives in `@berth/runtime/testsuite`.
 */
export type {
  Isolation,
  ResolvedUser,
  UserSpec,
  TerminalSize,
  ProcessSpec,
  RootfsMount,
  RootfsSpec,
  MountSpec,
  DeviceSpec,
  ResourcesSpec,
  PortMapping,
  DnsSpec,
  NetworkAttachment,
  NetworkSpec,
  IdMapping,
  UsernsSpec,
  SecuritySpec,
  ImageDefaults,
  ContainerSpec,
} from './spec.js';
export { MASKED_PATHS, READONLY_PATHS, isIpcSysctl } from './spec.js';
export type {
  ContainerStatus,
  ContainerState,
  ExitStatus,
  ExecSpec,
  ExecProcess,
  RestoredExec,
  AttachOptions,
  AttachedStdio,
  LogEntry,
  LogOptions,
  ContainerStats,
  InterfaceCounters,
  ProcessTable,
  OpenedRoot,
  RuntimeEventType,
  RuntimeEvent,
  DeleteOptions,
  RuntimeDriver,
  DriverPlatform,
} from './driver.js';
export { signalNumber, isValidContainerId } from './signals.js';
export type {
  NetworkInfo,
  NetworkEndpoint,
  NetworkDetails,
  NetworkCreateOptions,
  PublishedPort,
  EndpointOptions,
  EndpointRequest,
  EndpointInterface,
  EndpointAttachment,
  ContainerNamesHook,
  DetachOptions,
  NetworkDriver,
} from './network.js';
export { allocatePorts, portsClash, type HostPorts, type HostBinding } from './port-allocation.js';
