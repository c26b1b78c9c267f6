/**
 * An LCOW container's network adapters and bind mounts in its utility VM, as hcsshim adds
 * them (FACTS §3-4; hcsshim internal/uvm/network.go, plan9.go, internal/hcsoci/
 * resources_lcow.go):
 * - each endpoint of the container's HCN namespace becomes a network adapter of the VM
 *   (HCS: `VirtualMachine/Devices/NetworkAdapters/{nic}` with the endpoint id and MAC),
 *   then the guest is told to put it in the namespace (GCS ModifySettings `Network`: the
 *   endpoint's addresses, gateway route and DNS); the OCI spec names the namespace;
 * - each bind mount becomes a Plan9 share of the VM (a single file: its directory shared
 *   with only that file allowed) mounted in the guest at /run/gcs/c/<id>/mounts/m<i>
 *   (GCS `MappedDirectory`), and the OCI mount's source is that path.
 * Adds go host first, then guest; removal is guest first, then host, in reverse order.
 * While the container runs, an endpoint joins (addEndpoint) or leaves (removeEndpoint) the
 * same way, as hcsshim's AddEndpointsToNS / RemoveEndpointFromNS do.
 */
import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute } from 'node:path';
import { ConflictError, InvalidArgumentError, NotFoundError, UnsupportedError } from '@berth/image-format';
import {
  lcowMappedDirectoryRequest,
  lcowMountPath,
  lcowNetworkAdapter,
  lcowNetworkRequest,
  networkAdapterRequest,
  plan9ShareRequest,
  type GuestConnection,
  type HcsApi,
  type HcsSystem,
  type LcowGuestCapabilities,
  type Plan9Input,
} from '@berth/hcs';
import type { ContainerSpec, DnsSpec } from '@berth/runtime';

/** What was added, in order; undo() takes it away in reverse. */
export class LcowResources {
  /** Each undo with the endpoint it belongs to (network adapters), so a disconnect takes only its own. */
  private readonly undos: { endpoint?: string; run: () => Promise<void> }[] = [];
  /** Guest paths of the spec's mounts, index by index (lcowContainerRequest's mountPaths). */
  readonly mountPaths: string[] = [];
  private dns: DnsSpec | undefined;

  constructor(
    private readonly hcs: HcsApi,
    private readonly vm: HcsSystem,
    private readonly guest: GuestConnection,
  ) {}

  /** Every endpoint of the namespace as an adapter of the VM, in the guest's namespace of the same id. */
  async addNetwork(namespaceId: string, dns: DnsSpec | undefined): Promise<void> {
    this.dns = dns;
    const ns = await this.hcs.queryNamespaceProperties(namespaceId);
    for (const r of ns.Resources ?? []) if (r.Type === 'Endpoint') await this.addEndpoint(namespaceId, r.Data.Id);
  }

  /** Whether the endpoint is an adapter of this VM (added at create or by a connect). */
  hasEndpoint(endpointId: string): boolean {
    return this.undos.some((u) => u.endpoint === endpointId.toLowerCase());
  }

  /**
   * One endpoint as a network adapter of the VM, then the guest told to put it in the
   * namespace (hcsshim addNIC): at create for each endpoint, and hot-added while the
   * container runs (`docker network connect`).
   */
  async addEndpoint(namespaceId: string, endpointId: string): Promise<void> {
    // hcsshim sends the guest request only to a GCS that says it takes it; an older one would leave the container without a network
    const caps = this.guest.bridge.capabilities?.GuestDefinedCapabilities as LcowGuestCapabilities | undefined;
    if (!caps?.NamespaceAddRequestSupported) throw new UnsupportedError('the utility VM\'s GCS cannot add network adapters to a namespace (NamespaceAddRequestSupported): LCOW networking needs newer LinuxBootFiles; use --network none');
    const key = endpointId.toLowerCase();
    if (this.hasEndpoint(key)) throw new ConflictError(`endpoint ${endpointId} is already a network adapter of ${this.vm.id}`);
    const ep = await this.hcs.queryEndpointProperties(endpointId);
    // hcsshim takes the gateway from the endpoint's routes; an endpoint without routes goes by its network's
    const routes = ep.Routes?.length ? ep.Routes : ep.HostComputeNetwork ? ((await this.hcs.queryNetworkProperties(ep.HostComputeNetwork)).Ipams?.[0]?.Subnets[0]?.Routes ?? []) : [];
    const nicId = randomUUID();
    const mac = ep.MacAddress ?? '';
    const nic = { EndpointId: ep.ID, ...(mac ? { MacAddress: mac } : {}) };
    await this.hcs.modifyComputeSystem(this.vm, networkAdapterRequest(nicId, nic));
    this.undos.push({ endpoint: key, run: () => this.hcs.modifyComputeSystem(this.vm, networkAdapterRequest(nicId, nic, 'Remove')) });
    const adapter = lcowNetworkAdapter({
      namespaceId,
      nicId,
      mac,
      ipConfigs: (ep.IpConfigurations ?? []).map((c) => ({ ip: c.IpAddress, prefixLength: c.PrefixLength ?? 32 })),
      routes: routes.map((x) => ({ nextHop: x.NextHop, destinationPrefix: x.DestinationPrefix })),
      dnsServers: ep.Dns?.ServerList?.length ? ep.Dns.ServerList : (this.dns?.servers ?? []),
      dnsSearch: [...(ep.Dns?.Domain ? [ep.Dns.Domain] : []), ...(ep.Dns?.Search?.length ? ep.Dns.Search : (this.dns?.search ?? []))],
    });
    try {
      await this.guest.modify(lcowNetworkRequest(adapter));
    } catch (e) {
      // as hcsshim's modify: the host's half of a failed add is rolled back
      await this.undos.pop()!.run().catch(() => undefined);
      throw e;
    }
    this.undos.push({ endpoint: key, run: () => this.guest.modify(lcowNetworkRequest(adapter, 'Remove')) });
  }

  /** The endpoint's adapter taken from the guest, then from the VM (hcsshim removeNIC); unknown: NotFound as hcsshim's ErrNICNotFound. */
  async removeEndpoint(endpointId: string): Promise<void> {
    const key = endpointId.toLowerCase();
    const mine = this.undos.filter((u) => u.endpoint === key);
    if (!mine.length) throw new NotFoundError(`endpoint ${endpointId} is not a network adapter of ${this.vm.id}`);
    for (const u of mine.reverse()) {
      await u.run();
      this.undos.splice(this.undos.indexOf(u), 1);
    }
  }

  /** Each bind mount of the spec as a Plan9 share mounted in the guest. */
  async addMounts(spec: ContainerSpec): Promise<void> {
    let n = 0;
    for (const [i, m] of (spec.mounts ?? []).entries()) {
      if (m.type === 'tmpfs') continue;
      if (!m.source) throw new InvalidArgumentError(`mount ${m.destination}: a bind mount needs a source`);
      const shareDir = lcowMountPath(spec.id, i);
      const file = (await isFile(m.source)) ? basename(m.source) : undefined;
      // hcsshim's share names count up per VM; one VM per container here
      const share: Plan9Input = { name: String(n++), hostPath: file ? dirname(m.source) : m.source, readonly: !!m.readonly, ...(file ? { file } : {}) };
      await this.hcs.modifyComputeSystem(this.vm, plan9ShareRequest(share));
      this.undos.push({ run: () => this.hcs.modifyComputeSystem(this.vm, plan9ShareRequest(share, 'Remove')) });
      const mapped = { mountPath: shareDir, name: share.name, readonly: share.readonly };
      await this.guest.modify(lcowMappedDirectoryRequest(mapped));
      this.undos.push({ run: () => this.guest.modify(lcowMappedDirectoryRequest(mapped, 'Remove')) });
      this.mountPaths[i] = file ? `${shareDir}/${file}` : shareDir;
    }
  }

  /** Everything added, taken away in reverse order; the first failure is reported after all were tried. */
  async undo(): Promise<void> {
    let first: unknown;
    for (const u of this.undos.splice(0).reverse()) await u.run().catch((e: unknown) => (first ??= e));
    if (first) throw first;
  }
}

/**
 * Whether a bind source is a file (a single-file Plan9 share). A source this host cannot
 * see (a Windows path named on Linux, in documents-only tests) is taken as a directory;
 * one that is missing here is refused as hcsshim refuses it.
 */
async function isFile(source: string): Promise<boolean> {
  if (!isAbsolute(source)) return false;
  try {
    return (await stat(source)).isFile();
  } catch {
    throw new InvalidArgumentError(`invalid mount config for type "bind": bind source path does not exist: ${source}`);
  }
}
