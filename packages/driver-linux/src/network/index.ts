/**
 * Container networking for driver-linux: bridge networks, port publishing and
 * per-container network namespaces through the CNI reference plugins and iptables.
 */
export { CniNetworkManager } from './manager.js';
export { CniPluginError, CNI_VERSION } from './cni.js';
export type {
  AttachedInterface,
  AttachOptions,
  AttachResult,
  CniNetworkManagerOptions,
  CreateNetworkOptions,
  NetworkDetails,
  NetworkInfo,
  NetworkMode,
  PortMapping,
} from './types.js';
