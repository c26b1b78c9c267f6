/**
 * @berth/hcs — the Windows Host Compute Service for Berth's Windows drivers: HCS v2
 * document types and the pure builders that make them from a ContainerSpec, the HcsApi interface (implemented by @berth/hcs/koffi on
 * Windows and @berth/hcs/simulator everywhere), HRESULTs, and the LCOW GCS bridge protocol.
 */
export * from './types.js';
export { escapeArg, joinCommandLine, splitCommandLine } from './builders/commandline.js';
export { processParameters, initProcessParameters, execProcessParameters, mergeEnvironment, userString, type GuestOs, type ProcessInput } from './builders/process.js';
export {
  processContainerDocument,
  hostedContainerDocument,
  hostedComputeSystem,
  windowsContainer,
  containerLimits,
  mappedDirectories,
  isVolumeGuidPath,
  BERTH_OWNER,
  WAIT_TO_KILL_SERVICE_TIMEOUT,
  type ContainerDocumentInput,
} from './builders/container.js';
export {
  wcowUvmDocument,
  lcowUvmDocument,
  lcowKernelCmdLine,
  vsmbShareRequest,
  scsiAttachRequest,
  vsmbGuestPath,
  winJoin,
  SCSI_CONTROLLER_0,
  VSMB_DEVICE,
  GCS_SERVICE_WCOW,
  GCS_SERVICE_LCOW,
  WCOW_LOG_SERVICE,
  type WcowUvmInput,
  type LcowUvmInput,
} from './builders/uvm.js';
export { lcowContainerRequest, lcowOciUser, lcowProcessParameters, LCOW_ROOT_IN_UVM, type LinuxHostedSystem, type LinuxOciSpec, type LcowContainerInput } from './builders/lcow.js';
export {
  PLAN9_PORT,
  PLAN9_FLAGS,
  PLAN9_RESOURCE_PATH,
  networkAdapterResourcePath,
  lcowMountPath,
  plan9ShareRequest,
  lcowMappedDirectoryRequest,
  networkAdapterRequest,
  lcowNetworkAdapter,
  lcowNetworkRequest,
  type Plan9Input,
  type LcowEndpointInput,
} from './builders/lcow-resources.js';
export { natNetwork, endpointDocument, namespaceDocument, namespaceAddEndpoint, namespaceRemoveEndpoint, type EndpointInput } from './builders/hcn.js';
export { generateSamples } from './samples/cases.js';
export type { HcsApi, HcsSystem, HcsProcess, SignalOptions, WithId } from './api.js';
export { isStreamName, type BackupFiles } from './backup/files.js';
export * from './backup/stream.js';
export { HRESULT, HcsError, hresultName, isHcsError, type HresultName } from './hresult.js';
export * from './gcs/index.js';
export * from './ext4/index.js';
