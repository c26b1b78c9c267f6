/**
 * @berth/driver-linux — runs containers isolated by Linux namespaces: an OCI bundle
 * run by crun (default) or runc under conmon, cgroup v1/v2 limits, Docker-like
 * security defaults. See LinuxDriver.
 */
export { LinuxDriver, type LinuxDriverOptions, type ContainerNetworker } from './driver.js';
export { linuxDriverSet, type LinuxDriverContext } from './driver-set.js';
export { detectCgroups, type CgroupLayout, type CgroupMounts } from './cgroups/layout.js';
export { DEFAULT_CAPABILITIES, ALL_CAPABILITIES, resolveCapabilities } from './security/capabilities.js';
export { defaultSeccompProfile, type OciSeccomp } from './security/seccomp.js';
export {
  CniNetworkManager,
  CniPluginError,
  type AttachResult,
  type CniNetworkManagerOptions,
  type ConnectOptions,
  type CreateNetworkOptions,
  type EmbeddedDnsOptions,
  type AttachedInterface,
  type NetworkDetails,
  type NetworkInfo,
} from './network/index.js';
export { missingHostPrograms, describeMissingPrograms, HOST_PROGRAMS, type HostProgram, type HostCheckOptions } from './host-programs.js';
