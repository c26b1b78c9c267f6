/**
 * The HCS v2 documents Berth sends and reads, as hcsshim's schema2 structs marshal them
 * (exact casing: the copy of hcs-schema2.json in ../schema is the judge). Only the fields
 * Berth uses are typed; every field is optional in HCS itself.
 */

export interface SchemaVersion {
  Major: number;
  Minor: number;
}

export interface Layer {
  /** vmcompute!NameToGuid(basename(folder)) on a real host. */
  Id: string;
  Path: string;
}

export interface Storage {
  /** Topmost first; the base layer last. */
  Layers: Layer[];
  /** The scratch's volume: `\\?\Volume{GUID}\` (process isolation) or a guest path (Hyper-V). */
  Path: string;
}

export interface MappedDirectory {
  HostPath: string;
  ContainerPath: string;
  ReadOnly?: boolean;
}

export interface MappedPipe {
  ContainerPipeName: string;
  HostPath: string;
}

export interface ContainerProcessor {
  Count?: number;
  /** 1..10000: a share of the host's processors. */
  Maximum?: number;
  Weight?: number;
}

export interface RegistryValue {
  Key: { Hive: 'System' | 'Software' | 'Security' | 'Sam' | 'Hkcu' | 'Hklm'; Name: string; Volatile?: boolean };
  Name: string;
  Type: 'String' | 'DWord' | 'QWord' | 'Binary' | 'ExpandString' | 'MultiString' | 'None';
  StringValue?: string;
  DWordValue?: number;
}

export interface ContainerNetworking {
  AllowUnqualifiedDnsQuery?: boolean;
  /** Comma-joined. */
  DnsSearchList?: string;
  /** The HCN namespace id. */
  Namespace?: string;
}

export interface Container {
  GuestOs?: { HostName: string };
  Storage: Storage;
  MappedDirectories?: MappedDirectory[];
  MappedPipes?: MappedPipe[];
  Memory?: { SizeInMB: number };
  Processor: ContainerProcessor;
  Networking?: ContainerNetworking;
  RegistryChanges?: { AddValues?: RegistryValue[] };
}

export interface HostedSystem {
  SchemaVersion: SchemaVersion;
  Container: Container;
}

export interface UefiBootEntry {
  DeviceType: 'ScsiDrive' | 'VmbFs' | 'Network' | 'File';
  DevicePath?: string;
  OptionalData?: string;
  VmbFsRootPath?: string;
}

export interface Chipset {
  Uefi?: { BootThis?: UefiBootEntry };
  LinuxKernelDirect?: { KernelFilePath: string; InitRdPath?: string; KernelCmdLine?: string };
}

export interface Attachment {
  Type: 'VirtualDisk' | 'PassThru' | 'ExtensibleVirtualDisk';
  Path: string;
  ReadOnly?: boolean;
}

export interface VirtualSmbShareOptions {
  ReadOnly?: boolean;
  ShareRead?: boolean;
  CacheIo?: boolean;
  TakeBackupPrivilege?: boolean;
  PseudoOplocks?: boolean;
  NoOplocks?: boolean;
  NoDirectmap?: boolean;
}

export interface VirtualSmbShare {
  Name: string;
  Path: string;
  AllowedFiles?: string[];
  Options?: VirtualSmbShareOptions;
}

export interface HvSocketServiceConfig {
  BindSecurityDescriptor?: string;
  ConnectSecurityDescriptor?: string;
  AllowWildcardBinds?: boolean;
}

export interface VirtualMachineDevices {
  Scsi?: Record<string, { Attachments?: Record<string, Attachment> }>;
  VirtualPMem?: {
    Devices?: Record<string, { HostPath: string; ReadOnly?: boolean; ImageFormat?: 'Vhd1' | 'Vhdx' }>;
    MaximumCount?: number;
    MaximumSizeBytes?: number;
  };
  HvSocket?: { HvSocketConfig?: { DefaultBindSecurityDescriptor?: string; ServiceTable?: Record<string, HvSocketServiceConfig> } };
  VirtualSmb?: { Shares?: VirtualSmbShare[]; DirectFileMappingInMB?: number };
  Plan9?: { Shares?: Plan9Share[] };
}

/** A host directory served to a Linux guest over 9p (hcsshim schema2 Plan9Share; Flags: PLAN9_FLAGS). */
export interface Plan9Share {
  Name: string;
  AccessName?: string;
  Path?: string;
  Port?: number;
  Flags?: number;
  /** With the RestrictFileAccess flag: the only files of Path the share shows (a single-file bind). */
  AllowedFiles?: string[];
}

/** A VM network adapter backed by an HCN endpoint (schema2 NetworkAdapter). */
export interface NetworkAdapter {
  EndpointId: string;
  MacAddress?: string;
}

export interface VirtualMachine {
  StopOnReset?: boolean;
  Chipset: Chipset;
  ComputeTopology: {
    Memory: { SizeInMB: number; AllowOvercommit?: boolean; EnableHotHint?: boolean };
    Processor: { Count: number };
  };
  Devices: VirtualMachineDevices;
  RegistryChanges?: { AddValues?: RegistryValue[] };
  /** HCS owns the guest connection (the route hcsshim left in 2021). */
  GuestConnection?: Record<string, unknown>;
}

/** The document of HcsCreateComputeSystem. */
export interface ComputeSystem {
  Owner: string;
  SchemaVersion: SchemaVersion;
  HostingSystemId?: string;
  /** A Windows guest's HostedSystem, or a Linux guest's request (builders/lcow.ts LinuxHostedSystem). */
  HostedSystem?: HostedSystem | object;
  Container?: Container;
  VirtualMachine?: VirtualMachine;
  ShouldTerminateOnLastHandleClosed?: boolean;
}

/** The document of HcsCreateProcess. */
export interface ProcessParameters {
  ApplicationName?: string;
  /** The Windows-escaped argv (or CommandArgs for Linux guests). */
  CommandLine?: string;
  CommandArgs?: string[];
  User?: string;
  WorkingDirectory?: string;
  /** Go marshals maps with sorted keys; the builders do the same. */
  Environment?: Record<string, string>;
  EmulateConsole?: boolean;
  CreateStdInPipe?: boolean;
  CreateStdOutPipe?: boolean;
  CreateStdErrPipe?: boolean;
  /** [height, width]. */
  ConsoleSize?: [number, number];
}

export type ProcessModifyRequest =
  | { Operation: 'ConsoleSize'; ConsoleSize: { Height: number; Width: number } }
  | { Operation: 'CloseHandle'; CloseHandle: { Handle: 'StdIn' | 'StdOut' | 'StdErr' | 'All' } };

export interface ModifySettingRequest {
  ResourcePath?: string;
  RequestType?: 'Add' | 'Remove' | 'Update';
  Settings?: unknown;
  GuestRequest?: unknown;
}

export type PropertyType = 'Memory' | 'GuestConnection' | 'ProcessList' | 'TerminateOnLastHandleClosed' | 'SharedMemoryRegion' | 'GuestConnection' | 'Statistics';

export interface PropertyQuery {
  PropertyTypes: PropertyType[];
}

export interface ProcessDetails {
  ProcessId: number;
  ImageName?: string;
  CreateTimestamp?: string;
  UserTime100ns?: number;
  KernelTime100ns?: number;
  MemoryCommitBytes?: number;
  MemoryWorkingSetPrivateBytes?: number;
}

export interface Statistics {
  Timestamp?: string;
  ContainerStartTime?: string;
  Uptime100ns?: number;
  Processor?: { TotalRuntime100ns?: number; RuntimeUser100ns?: number; RuntimeKernel100ns?: number };
  Memory?: { MemoryUsageCommitBytes?: number; MemoryUsageCommitPeakBytes?: number; MemoryUsagePrivateWorkingSetBytes?: number };
}

export interface Properties {
  Id?: string;
  RuntimeId?: string;
  SystemType?: 'Container' | 'VirtualMachine';
  RuntimeOsType?: string;
  Owner?: string;
  State?: string;
  Stopped?: boolean;
  ExitType?: string;
  Statistics?: Statistics;
  ProcessList?: ProcessDetails[];
  HostingSystemId?: string;
}

export interface ProcessStatus {
  ProcessId?: number;
  Exited?: boolean;
  ExitCode?: number;
  LastWaitResult?: number;
}

/** layerData of HcsImportLayer, HcsInitializeWritableLayer, HcsAttachLayerStorageFilter. */
export interface LayerData {
  SchemaVersion: SchemaVersion | Record<string, never>;
  Layers: Layer[];
  FilterType?: 'WCIFS' | 'UnionFS';
}

/** options of HcsExportLayer. */
export interface ExportLayerOptions {
  IsWritableLayer?: boolean;
}

// ---- HCN (computenetwork.dll) ----

export interface HcnSchemaVersion {
  Major: 2;
  Minor: number;
}

export interface HcnNetwork {
  Name: string;
  Type: 'NAT' | 'Transparent' | 'L2Bridge' | 'L2Tunnel' | 'ICS' | 'Private' | 'Overlay' | 'Internal' | 'Mirrored';
  MacPool?: { Ranges: { StartMacAddress: string; EndMacAddress: string }[] };
  Dns?: { Domain?: string; Search?: string[]; ServerList?: string[] };
  Ipams: { Type: 'Static' | 'DHCP'; Subnets: { IpAddressPrefix: string; Routes?: { NextHop: string; DestinationPrefix: string }[] }[] }[];
  Health?: { Extra: Record<string, unknown> };
  SchemaVersion: HcnSchemaVersion;
}

export interface HcnEndpoint {
  Name: string;
  HostComputeNetwork?: string;
  HostComputeNamespace?: string;
  IpConfigurations?: { IpAddress: string; PrefixLength?: number }[];
  MacAddress?: string;
  Dns?: { Domain?: string; Search?: string[]; ServerList?: string[] };
  Routes?: { NextHop: string; DestinationPrefix: string }[];
  Policies?: { Type: 'PortMapping' | string; Settings: unknown }[];
  Health?: { Extra: Record<string, unknown> };
  SchemaVersion: HcnSchemaVersion;
}

export interface HcnNamespace {
  Type?: 'Host' | 'HostDefault' | 'Guest' | 'GuestDefault';
  NamespaceId?: number;
  SchemaVersion: HcnSchemaVersion;
}

export interface HcnNamespaceModify {
  ResourceType: 'Endpoint' | 'Container';
  RequestType: 'Add' | 'Remove';
  Settings: { EndpointId?: string; ContainerId?: string };
}

export const SCHEMA_V21: SchemaVersion = Object.freeze({ Major: 2, Minor: 1 });
export const HCN_SCHEMA_V20: HcnSchemaVersion = Object.freeze({ Major: 2, Minor: 0 });
