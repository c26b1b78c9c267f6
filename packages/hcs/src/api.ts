import type { BackupFiles } from './backup/files.js';
import type { Readable, Writable } from 'node:stream';
import type {
  ComputeSystem,
  ExportLayerOptions,
  HcnEndpoint,
  HcnNamespace,
  HcnNamespaceModify,
  HcnNetwork,
  LayerData,
  ModifySettingRequest,
  ProcessModifyRequest,
  ProcessParameters,
  ProcessStatus,
  Properties,
  PropertyQuery,
} from './types.js';

/** An open compute system (HCS_SYSTEM): close it when done (ShouldTerminateOnLastHandleClosed). */
export interface HcsSystem {
  readonly id: string;
}

/**
 * An open process (HCS_PROCESS) and the stdio pipes HCS created for it (the caller owns
 * them: HcsWaitForOperationResultAndProcessInfo hands the handles over).
 */
export interface HcsProcess {
  readonly pid: number;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
}

/**
 * HcsSignalProcess options: a Windows guest takes console control events
 * (`CtrlShutdown` for SIGTERM, `CtrlC` for SIGINT); a Linux guest (LCOW) takes signal numbers.
 */
export type SignalOptions = { Signal: 'CtrlC' | 'CtrlBreak' | 'CtrlClose' | 'CtrlLogOff' | 'CtrlShutdown' } | { Signal: number };

/** An HCN element as HcnQuery*Properties returns it: the settings plus its id. */
export type WithId<T> = T & { ID: string };

/**
 * What Berth's Windows drivers ask of the Host Compute Service, computestorage and HCN.
 * Every method is asynchronous: HCS calls complete through operations
 * (HcsCreateOperation → call → HcsWaitForOperationResult), and no implementation may block
 * the event loop. Failures are HcsErrors carrying the HRESULT (HCS_E_* and HCN_E_*).
 *
 * Implementations: `KoffiHcs` (@berth/hcs/koffi: computecore.dll, computestorage.dll,
 * computenetwork.dll and vmcompute.dll through koffi; Windows only) and `HcsSimulator`
 * (@berth/hcs/simulator: in memory, validates every document against hcs-schema2.json).
 */
export interface HcsApi {
  readonly kind: 'koffi' | 'simulator';

  // ---- compute systems (computecore.dll) ----
  /** HcsEnumerateComputeSystems: id, SystemType, State, Owner... of every compute system. */
  enumerateComputeSystems(query?: { Owners?: string[]; Ids?: string[] }): Promise<Properties[]>;
  createComputeSystem(id: string, document: ComputeSystem): Promise<HcsSystem>;
  openComputeSystem(id: string): Promise<HcsSystem>;
  startComputeSystem(system: HcsSystem): Promise<void>;
  /** Graceful; HCS_E_SYSTEM_ALREADY_STOPPED when it is not running. */
  shutDownComputeSystem(system: HcsSystem): Promise<void>;
  terminateComputeSystem(system: HcsSystem): Promise<void>;
  pauseComputeSystem(system: HcsSystem): Promise<void>;
  resumeComputeSystem(system: HcsSystem): Promise<void>;
  getComputeSystemProperties(system: HcsSystem, query: PropertyQuery): Promise<Properties>;
  modifyComputeSystem(system: HcsSystem, request: ModifySettingRequest): Promise<void>;
  /** Resolves when the system exits (HcsEventSystemExited through HcsSetComputeSystemCallback). */
  waitForComputeSystemExit(system: HcsSystem): Promise<void>;
  closeComputeSystem(system: HcsSystem): Promise<void>;

  // ---- processes ----
  createProcess(system: HcsSystem, parameters: ProcessParameters): Promise<HcsProcess>;
  /**
   * HcsOpenProcess of a process another owner created (berthd before a restart), exit
   * notification registered again, and its stdio from HcsGetProcessInfo where HCS still
   * has it (null streams where not).
   */
  openProcess(system: HcsSystem, pid: number): Promise<HcsProcess>;
  signalProcess(process: HcsProcess, options: SignalOptions): Promise<void>;
  terminateProcess(process: HcsProcess): Promise<void>;
  modifyProcess(process: HcsProcess, request: ProcessModifyRequest): Promise<void>;
  getProcessProperties(process: HcsProcess): Promise<ProcessStatus>;
  /** Resolves with the final status once the process exited (HcsEventProcessExited). */
  waitForProcessExit(process: HcsProcess): Promise<ProcessStatus>;
  closeProcess(process: HcsProcess): Promise<void>;

  // ---- storage (computestorage.dll; vmcompute.dll for the layer id and the scratch mount) ----
  /** vmcompute!NameToGuid: the Layer.Id of a layer folder's name. */
  layerId(folderName: string): Promise<string>;
  importLayer(layerPath: string, sourceFolder: string, layerData: LayerData): Promise<void>;
  /**
   * HcsExportLayer: a layer's contents as a layer folder (`Files\`, `Hives\`, tombstones of
   * deletes) in `exportFolder`, which must exist; `layerData` names its parents. With
   * IsWritableLayer, a container's scratch: its changes.
   */
  exportLayer(layerPath: string, exportFolder: string, layerData: LayerData, options: ExportLayerOptions): Promise<void>;
  initializeWritableLayer(writableLayerPath: string, layerData: LayerData): Promise<void>;
  attachLayerStorageFilter(layerPath: string, layerData: LayerData): Promise<void>;
  detachLayerStorageFilter(layerPath: string): Promise<void>;
  destroyLayer(layerPath: string): Promise<void>;
  /** ActivateLayer + PrepareLayer + GetLayerMountPath: the scratch's `\\?\Volume{GUID}\`. */
  mountWritableLayer(writableLayerPath: string, layerData: LayerData): Promise<string>;
  /** UnprepareLayer + DeactivateLayer. */
  unmountWritableLayer(writableLayerPath: string): Promise<void>;
  /**
   * Where the host reads and writes the files of a scratch mounted at `volume`: on Windows
   * the volume path itself (the host opens `\\?\Volume{GUID}\` as a directory).
   */
  volumeHostPath(volume: string): string;
  /** Files read and written with their security descriptors and alternate data streams (BackupRead/BackupWrite). */
  readonly backup: BackupFiles;

  // ---- networking (computenetwork.dll) ----
  enumerateNetworks(query?: { Filter?: string }): Promise<string[]>;
  createNetwork(id: string, settings: HcnNetwork): Promise<void>;
  queryNetworkProperties(id: string): Promise<WithId<HcnNetwork>>;
  deleteNetwork(id: string): Promise<void>;
  enumerateEndpoints(query?: { Filter?: string }): Promise<string[]>;
  createEndpoint(networkId: string, id: string, settings: HcnEndpoint): Promise<void>;
  queryEndpointProperties(id: string): Promise<WithId<HcnEndpoint>>;
  deleteEndpoint(id: string): Promise<void>;
  createNamespace(id: string, settings: HcnNamespace): Promise<void>;
  modifyNamespace(id: string, request: HcnNamespaceModify): Promise<void>;
  queryNamespaceProperties(id: string): Promise<WithId<HcnNamespace> & { Resources?: { Type: string; Data: { Id: string } }[] }>;
  deleteNamespace(id: string): Promise<void>;

  /** Release what the implementation holds (registered callbacks, library handles). */
  close(): Promise<void>;
}
