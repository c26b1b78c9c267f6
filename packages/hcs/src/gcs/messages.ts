/**
 * The bodies the bridge carries (hcsshim internal/gcs/prot and
 * internal/protocol/guestresource, FACTS §3). Fields that hcsshim marshals as "JSON in a
 * string" (anyInString: ContainerConfig, ProcessParameters, Query, Properties) are
 * strings here too: the guest parses them a second time.
 */
import type { Duplex } from 'node:stream';
import type { Layer, ProcessParameters, SchemaVersion } from '../types.js';
import type { LinuxOciSpec } from '../builders/lcow.js';

export interface RequestBase {
  ContainerId: string;
  ActivityId: string;
}

export interface ResponseBase {
  Result: number;
  ActivityId?: string;
  ErrorMessage?: string;
  ErrorRecords?: { Result: number; Message: string }[];
}

export interface GcsCapabilities {
  SendHostCreateMessage?: boolean;
  SendHostStartMessage?: boolean;
  HvSocketConfigOnStartup?: boolean;
  SendLifecycleNotifications?: boolean;
  SupportedSchemaVersions?: SchemaVersion[];
  RuntimeOsType?: string;
  GuestDefinedCapabilities?: unknown;
}

/** What a Linux GCS says it can do (hcsshim prot.GcsGuestCapabilities). */
export interface LcowGuestCapabilities {
  /** Network adapters can be added to (and removed from) a namespace over ModifySettings `Network`. */
  NamespaceAddRequestSupported?: boolean;
  SignalProcessSupported?: boolean;
  DumpStacksSupported?: boolean;
  DeleteContainerStateSupported?: boolean;
}

export interface NegotiateProtocolResponse extends ResponseBase {
  Version: number;
  Capabilities?: GcsCapabilities;
}

/** The vsock ports the host listens on for a process' stdio; the guest connects to them. 0 = no pipe. */
export interface VsockStdioRelaySettings {
  StdIn?: number;
  StdOut?: number;
  StdErr?: number;
}

export interface ExecuteProcessSettings {
  /** JSON of LcowProcessParameters. */
  ProcessParameters: string;
  VsockStdioRelaySettings?: VsockStdioRelaySettings;
}

/**
 * An LCOW process (hcsshim lcowProcessParameters): the HCS ProcessParameters (pipes,
 * console) plus, for an exec, the OCI process. Without OciProcess it is the container's
 * init: the spec's own process.
 */
export interface LcowProcessParameters extends ProcessParameters {
  OciProcess?: LinuxOciSpec['process'];
}

export interface ExecuteProcessResponse extends ResponseBase {
  ProcessId: number;
}

export interface WaitForProcessResponse extends ResponseBase {
  ExitCode: number;
}

/** Wait for ever (hcsshim's TimeoutInMs for a process' wait). */
export const WAIT_INFINITE = 0xffffffff;

/** A guest-side modification (hcsshim guestrequest.ModificationRequest) sent in ModifySettings.Request. */
export interface GuestModificationRequest {
  ResourceType: 'MappedVirtualDisk' | 'CombinedLayers' | 'MappedDirectory' | string;
  RequestType: 'Add' | 'Remove' | 'Update';
  Settings?: unknown;
}

/** A SCSI disk of the UVM mounted in the guest (guestresource.LCOWMappedVirtualDisk). */
export interface LcowMappedVirtualDisk {
  MountPath: string;
  Controller?: number;
  Lun?: number;
  ReadOnly?: boolean;
}

/** The container's root: the layers' mounts overlaid, the scratch above (guestresource.LCOWCombinedLayers). */
export interface LcowCombinedLayers {
  ContainerId?: string;
  ContainerRootPath: string;
  Layers: Layer[];
  ScratchPath: string;
}

/** A Plan9 share of the UVM mounted in the guest (guestresource.LCOWMappedDirectory). */
export interface LcowMappedDirectory {
  MountPath: string;
  Port?: number;
  ShareName?: string;
  ReadOnly?: boolean;
}

/**
 * A network adapter of the UVM given to a network namespace in the guest
 * (guestresource.LCOWNetworkAdapter at hcsshim 7c9ff7f4: addresses as IPConfigs, the
 * gateway as a route; DNSSuffix is the search list, comma-joined, as is DNSServerList).
 */
export interface LcowNetworkAdapter {
  NamespaceID: string;
  /** The adapter's instance id: the id of `VirtualMachine/Devices/NetworkAdapters/{id}`. */
  ID: string;
  MacAddress?: string;
  DNSSuffix?: string;
  DNSServerList?: string;
  EncapOverhead?: number;
  VPCIAssigned?: boolean;
  IPConfigs?: { IPAddress: string; PrefixLength: number }[];
  Routes?: { NextHop: string; DestinationPrefix: string; Metric?: number }[];
  PolicyBasedRouting?: boolean;
  EnableLowMetric?: boolean;
}

export interface ContainerNotification {
  ContainerId: string;
  ActivityId?: string;
  /** UnexpectedExit, GracefulExit, ForcedExit... (Compute.System.NotificationType). */
  Type: string;
  Operation: string;
  /** The init process' exit code for an exit notification from the Linux GCS. */
  Result: number;
  ResultInfo?: string;
}

/** A listening hvsock (real: ws2_32 AF_HYPERV; Linux tests: the simulator's in-process one). */
export interface HvsockListener {
  accept(): Promise<Duplex>;
  close(): Promise<void>;
}

/**
 * Where the host listens for a utility VM's connections: the GCS on its service id, each
 * process' stdio on the vsock ports it hands the guest. `listenHvsock` of @berth/hcs/koffi
 * on Windows, `HcsSimulator.hvsock` in tests.
 */
export interface HvsockTransport {
  listen(address: { vmId: string; serviceId: string }): Promise<HvsockListener>;
}

/** The LCOW GCS's vsock port; a process' stdio ports follow it (hcsshim firstIoChannelVsockPort). */
export const LINUX_GCS_VSOCK_PORT = 0x40000000;

/** The hvsock service id of a Linux guest's vsock port (go-winio's VsockServiceID template). */
export function vsockServiceId(port: number): string {
  return `${(port >>> 0).toString(16).padStart(8, '0')}-facb-11e6-bd58-64006a7986d3`;
}
