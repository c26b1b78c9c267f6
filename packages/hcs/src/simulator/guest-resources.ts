/**
 * The simulated Linux GCS's network namespaces and Plan9 mounts, kept and refused as
 * hcsshim's guest does (internal/guest/runtime/hcsv2 network.go, uvm.go modifyNetwork and
 * modifyMappedDirectory):
 * - Network Add puts the adapter in its namespace, making the namespace if it is new
 *   (GetOrAddNetworkNamespace); an adapter id already in the namespace is refused; the
 *   adapter has to be a device of the VM (the guest waits for its VMBus instance id, then
 *   fails). Remove of an unknown namespace or adapter succeeds (the guest logs and skips).
 * - MappedDirectory Add mounts a Plan9 share of the VM (9p over vsock: the port and the
 *   share's access name must be the VM's) at MountPath; Remove unmounts it.
 * - A container's bind mount sources must exist in the UVM (runc fails otherwise): a
 *   mapped directory or a file in one. A standalone container whose namespace has no
 *   adapter runs without one, as the real guest's does (only CRI sandboxes are refused).
 * Request settings are checked against hcsshim's field names exactly: Go would ignore a
 * misspelled field and the adapter would silently lack it.
 */
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { HRESULT } from '../hresult.js';
import type { NetworkAdapter, Plan9Share } from '../types.js';
import type { LinuxOciSpec } from '../builders/lcow.js';
import type { GuestModificationRequest, LcowMappedDirectory, LcowNetworkAdapter } from '../gcs/messages.js';

export class GuestRefusal extends Error {
  constructor(
    readonly hresult: number,
    message: string,
  ) {
    super(message);
  }
}
const refuse = (hr: number, message: string): never => {
  throw new GuestRefusal(hr, message);
};

const ADAPTER_FIELDS = new Set(['NamespaceID', 'ID', 'MacAddress', 'DNSSuffix', 'DNSServerList', 'EncapOverhead', 'VPCIAssigned', 'IPConfigs', 'Routes', 'PolicyBasedRouting', 'EnableLowMetric']);
const MAPPED_DIRECTORY_FIELDS = new Set(['MountPath', 'Port', 'ShareName', 'ReadOnly']);

function onlyFields(what: string, settings: unknown, fields: Set<string>): Record<string, unknown> {
  if (typeof settings !== 'object' || settings === null) return refuse(HRESULT.E_INVALIDARG, `${what} has no settings`);
  const unknown = Object.keys(settings).filter((k) => !fields.has(k));
  if (unknown.length) refuse(HRESULT.E_INVALIDARG, `${what}: unknown field(s) ${unknown.join(', ')}`);
  return settings as Record<string, unknown>;
}

export interface GuestVmDevices {
  plan9: Map<string, Plan9Share>;
  nics: Map<string, NetworkAdapter>;
}

/** A mounted share: where, from which share of the VM. */
export interface GuestMappedDirectory extends LcowMappedDirectory {
  share: Plan9Share;
}

export class GuestResources {
  /** Network namespaces by id (lowercase): their adapters by id. */
  readonly namespaces = new Map<string, Map<string, LcowNetworkAdapter>>();
  readonly mappedDirectories = new Map<string, GuestMappedDirectory>();

  constructor(private readonly vm: GuestVmDevices) {}

  /** True when the request was one of these resources. */
  modify(r: GuestModificationRequest): boolean {
    if (r.ResourceType === 'Network') this.network(r.RequestType, onlyFields('Network', r.Settings, ADAPTER_FIELDS) as unknown as LcowNetworkAdapter);
    else if (r.ResourceType === 'MappedDirectory') this.mappedDirectory(r.RequestType, onlyFields('MappedDirectory', r.Settings, MAPPED_DIRECTORY_FIELDS) as unknown as LcowMappedDirectory);
    else return false;
    return true;
  }

  private network(type: string, a: LcowNetworkAdapter): void {
    if (!a.NamespaceID || !a.ID) refuse(HRESULT.E_INVALIDARG, 'a network adapter needs NamespaceID and ID');
    const nsId = a.NamespaceID.toLowerCase();
    const id = a.ID.toLowerCase();
    if (type === 'Remove') {
      this.namespaces.get(nsId)?.delete(id);
      return;
    }
    if (type !== 'Add') refuse(HRESULT.E_INVALIDARG, `${type} is not a valid request type for Network`);
    if (!this.vm.nics.has(id)) refuse(HRESULT.ERROR_NOT_FOUND, `no network adapter with instance id ${a.ID} appeared in the VM`);
    for (const c of a.IPConfigs ?? []) if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(c.IPAddress) || !(c.PrefixLength > 0 && c.PrefixLength <= 32)) refuse(HRESULT.E_INVALIDARG, `bad IP config ${c.IPAddress}/${c.PrefixLength}`);
    const ns = this.namespaces.get(nsId) ?? new Map<string, LcowNetworkAdapter>();
    if (ns.has(id)) refuse(HRESULT.E_FAIL, `adapter with id: '${a.ID}' already present in namespace`);
    ns.set(id, structuredClone(a));
    this.namespaces.set(nsId, ns);
  }

  private mappedDirectory(type: string, d: LcowMappedDirectory): void {
    if (!d.MountPath) refuse(HRESULT.E_INVALIDARG, 'MappedDirectory needs a MountPath');
    if (type === 'Remove') {
      if (!this.mappedDirectories.delete(d.MountPath)) refuse(HRESULT.ERROR_NOT_FOUND, `${d.MountPath} is not mounted`);
      return;
    }
    if (type !== 'Add') refuse(HRESULT.E_INVALIDARG, `${type} is not a valid request type for MappedDirectory`);
    if (!d.ShareName) refuse(HRESULT.E_INVALIDARG, 'MappedDirectory without ShareName (no aname) is not supported');
    const share = [...this.vm.plan9.values()].find((s) => (s.AccessName ?? s.Name) === d.ShareName && s.Port === d.Port);
    if (!share) refuse(HRESULT.ERROR_PATH_NOT_FOUND, `mount 9p ${d.ShareName} on vsock port ${d.Port ?? 0}: no such share`);
    if (this.mappedDirectories.has(d.MountPath)) refuse(HRESULT.ERROR_ALREADY_EXISTS, `${d.MountPath} is mounted`);
    this.mappedDirectories.set(d.MountPath, { ...structuredClone(d), share: structuredClone(share!) });
  }

  /** The mapped directory holding `uvmPath` and the path within it ('' for the directory itself). */
  private locate(uvmPath: string): { dir: GuestMappedDirectory; rel: string } | undefined {
    for (const [mount, dir] of this.mappedDirectories) {
      if (uvmPath === mount) return { dir, rel: '' };
      if (uvmPath.startsWith(`${mount}/`)) return { dir, rel: uvmPath.slice(mount.length + 1) };
    }
    return undefined;
  }

  /** What runc would refuse at create: a bind mount whose source is not in the UVM. */
  checkMounts(spec: LinuxOciSpec): void {
    for (const m of spec.mounts) {
      if (m.type !== 'bind' || !m.source?.startsWith('/run/gcs/')) continue;
      const at = this.locate(m.source);
      const allowed = at?.dir.share.AllowedFiles;
      const visible = at && (at.rel === '' ? !allowed : !allowed || allowed.includes(at.rel));
      if (!visible) refuse(HRESULT.ERROR_PATH_NOT_FOUND, `mount ${m.destination}: source ${m.source} does not exist in the utility VM`);
    }
  }

  /**
   * A container path read through its bind mounts: the host file behind the Plan9 share
   * when the share's path is a local directory (the simulator's stand-in for a Windows one).
   * Undefined when the path is not under a bind mount or cannot be read.
   */
  read(spec: LinuxOciSpec, path: string): Buffer | undefined {
    const binds = spec.mounts.filter((m) => m.type === 'bind' && m.source).sort((a, b) => b.destination.length - a.destination.length);
    for (const m of binds) {
      const inside = path === m.destination ? '' : path.startsWith(`${m.destination}/`) ? path.slice(m.destination.length + 1) : undefined;
      if (inside === undefined) continue;
      const at = this.locate(posix.join(m.source!, inside));
      const host = at?.dir.share.Path;
      if (!at || !host?.startsWith('/') || at.rel.split('/').includes('..')) return undefined;
      const allowed = at.dir.share.AllowedFiles;
      if (allowed && !allowed.includes(at.rel)) return undefined;
      try {
        return readFileSync(join(host, at.rel));
      } catch {
        return undefined;
      }
    }
    return undefined;
  }

  /** The adapters a container's namespace holds (none when it names none or an empty one). */
  adaptersOf(spec: LinuxOciSpec): LcowNetworkAdapter[] {
    const ns = spec.windows?.network.networkNamespace;
    return ns ? [...(this.namespaces.get(ns.toLowerCase())?.values() ?? [])] : [];
  }
}
