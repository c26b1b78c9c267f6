/**
 * What an LCOW container needs in its utility VM besides its disks, as hcsshim adds it:
 * bind mounts as Plan9 shares (internal/uvm/plan9.go AddPlan9, internal/hcsoci/
 * resources_lcow.go) and network adapters backed by HCN endpoints (internal/uvm/
 * network.go addNIC, guestresource.BuildLCOWNetworkAdapter). Each is two requests: one
 * to HCS for the VM's device, one to the guest's GCS (ModifySettings) to use it. Adds go
 * host first, removes guest first (hcsshim uvm.modify).
 */
import type { ModifySettingRequest, NetworkAdapter, Plan9Share } from '../types.js';
import type { GuestModificationRequest, LcowMappedDirectory, LcowNetworkAdapter } from '../gcs/messages.js';
import { LCOW_ROOT_IN_UVM } from './lcow.js';

/** The 9p server's vsock port in a Linux utility VM (hcsshim vmutils.Plan9Port). */
export const PLAN9_PORT = 564;

/** schema2 Plan9ShareFlags. */
export const PLAN9_FLAGS = Object.freeze({ ReadOnly: 0x1, LinuxMetadata: 0x4, CaseSensitive: 0x8, RestrictFileAccess: 0x80 });

export const PLAN9_RESOURCE_PATH = 'VirtualMachine/Devices/Plan9/Shares';
export const networkAdapterResourcePath = (nicId: string): string => `VirtualMachine/Devices/NetworkAdapters/${nicId}`;

/** Where the guest mounts the share of a container's i-th mount (guestpath LCOWMountPathPrefixFmt under the container's root in the UVM). */
export const lcowMountPath = (containerId: string, index: number): string => `${LCOW_ROOT_IN_UVM}/${containerId}/mounts/m${index}`;

export interface Plan9Input {
  /** The share's name and 9p access name (hcsshim: a counter per VM). */
  name: string;
  /** The host directory (for a single file, the directory holding it). */
  hostPath: string;
  readonly: boolean;
  /** A single-file bind: the file's name in hostPath; the share shows nothing else. */
  file?: string;
}

/** HcsModifyComputeSystem: the Plan9 share on the VM (Remove names it only, as hcsshim's does). */
export function plan9ShareRequest(input: Plan9Input, requestType: 'Add' | 'Remove' = 'Add'): ModifySettingRequest {
  const settings: Plan9Share =
    requestType === 'Remove'
      ? { Name: input.name, AccessName: input.name, Port: PLAN9_PORT }
      : {
          Name: input.name,
          AccessName: input.name,
          Path: input.hostPath,
          Port: PLAN9_PORT,
          Flags: PLAN9_FLAGS.LinuxMetadata | (input.readonly ? PLAN9_FLAGS.ReadOnly : 0) | (input.file ? PLAN9_FLAGS.RestrictFileAccess : 0),
          ...(input.file ? { AllowedFiles: [input.file] } : {}),
        };
  // key order as hcsshim marshals ModifySettingRequest: ResourcePath, RequestType, Settings
  return { ResourcePath: PLAN9_RESOURCE_PATH, RequestType: requestType, Settings: settings };
}

/** The GCS request that mounts (or unmounts) the share at `mountPath` in the UVM. */
export function lcowMappedDirectoryRequest(input: { mountPath: string; name: string; readonly: boolean }, requestType: 'Add' | 'Remove' = 'Add'): GuestModificationRequest {
  const settings: LcowMappedDirectory = { MountPath: input.mountPath, ShareName: input.name, Port: PLAN9_PORT, ...(input.readonly && requestType === 'Add' ? { ReadOnly: true } : {}) };
  return { ResourceType: 'MappedDirectory', RequestType: requestType, Settings: settings };
}

/** HcsModifyComputeSystem: a network adapter on the VM backed by an HCN endpoint. */
export function networkAdapterRequest(nicId: string, adapter: NetworkAdapter, requestType: 'Add' | 'Remove' = 'Add'): ModifySettingRequest {
  return { ResourcePath: networkAdapterResourcePath(nicId), RequestType: requestType, Settings: { EndpointId: adapter.EndpointId, ...(adapter.MacAddress ? { MacAddress: adapter.MacAddress } : {}) } };
}

/** An HCN endpoint as the guest needs it (what hcsshim reads back with hcn.GetEndpointByID). */
export interface LcowEndpointInput {
  namespaceId: string;
  nicId: string;
  mac: string;
  ipConfigs: { ip: string; prefixLength: number }[];
  routes: { nextHop: string; destinationPrefix: string; metric?: number }[];
  dnsServers?: string[];
  dnsSearch?: string[];
}

/** The adapter the GCS moves into the namespace (guestresource.BuildLCOWNetworkAdapter): DNS lowercased and comma-joined. */
export function lcowNetworkAdapter(input: LcowEndpointInput): LcowNetworkAdapter {
  const search = (input.dnsSearch ?? []).map((s) => s.toLowerCase()).join(',');
  const servers = (input.dnsServers ?? []).map((s) => s.toLowerCase()).join(',');
  // Go's omitempty: empty strings and lists are not sent
  return {
    NamespaceID: input.namespaceId,
    ID: input.nicId,
    MacAddress: input.mac,
    ...(search ? { DNSSuffix: search } : {}),
    ...(servers ? { DNSServerList: servers } : {}),
    ...(input.ipConfigs.length ? { IPConfigs: input.ipConfigs.map((c) => ({ IPAddress: c.ip, PrefixLength: c.prefixLength })) } : {}),
    ...(input.routes.length ? { Routes: input.routes.map((r) => ({ NextHop: r.nextHop, DestinationPrefix: r.destinationPrefix, ...(r.metric ? { Metric: r.metric } : {}) })) } : {}),
  };
}

/** The GCS request that adds the adapter to its namespace; a Remove names the namespace and adapter only (hcsshim removeNIC). */
export function lcowNetworkRequest(adapter: LcowNetworkAdapter, requestType: 'Add' | 'Remove' = 'Add'): GuestModificationRequest {
  return { ResourceType: 'Network', RequestType: requestType, Settings: requestType === 'Remove' ? { NamespaceID: adapter.NamespaceID, ID: adapter.ID } : adapter };
}
