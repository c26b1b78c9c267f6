import { HRESULT, HcsError } from '../hresult.js';
import type { HcnEndpoint, HcnNamespace, HcnNamespaceModify, HcnNetwork } from '../types.js';
import type { WithId } from '../api.js';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function ipToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => (a << 8) + Number(o), 0) >>> 0;
}

function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

function parseCidr(c: string): { base: number; bits: number } | undefined {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(c);
  if (!m || Number(m[2]) > 32) return undefined;
  const bits = Number(m[2]);
  return { base: (ipToInt(m[1]!) & (bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0)) >>> 0, bits };
}

/** HCN's bookkeeping: NAT networks with static IPAM, endpoints (addresses, port mappings), namespaces. */
export class SimHcn {
  readonly networks = new Map<string, WithId<HcnNetwork>>();
  readonly endpoints = new Map<string, WithId<HcnEndpoint> & { network: string }>();
  readonly namespaces = new Map<string, { settings: HcnNamespace; endpoints: Set<string> }>();

  private checkId(op: string, id: string): string {
    if (!GUID.test(id)) throw new HcsError(HRESULT.HCN_E_INVALID_JSON, op, `${id} is not a GUID`);
    return id.toLowerCase();
  }

  createNetwork(id: string, s: HcnNetwork): void {
    const key = this.checkId('HcnCreateNetwork', id);
    if (this.networks.has(key) || [...this.networks.values()].some((n) => n.Name === s.Name)) throw new HcsError(HRESULT.HCN_E_NETWORK_ALREADY_EXISTS, 'HcnCreateNetwork', s.Name);
    if (s.SchemaVersion?.Major !== 2 || !s.Type || !s.Name) throw new HcsError(HRESULT.HCN_E_INVALID_NETWORK, 'HcnCreateNetwork', 'Name, Type and SchemaVersion 2.x are required');
    for (const ipam of s.Ipams ?? []) for (const sub of ipam.Subnets) if (!parseCidr(sub.IpAddressPrefix)) throw new HcsError(HRESULT.HCN_E_INVALID_NETWORK, 'HcnCreateNetwork', `bad subnet ${sub.IpAddressPrefix}`);
    this.networks.set(key, { ...structuredClone(s), ID: key });
  }

  network(id: string): WithId<HcnNetwork> {
    const n = this.networks.get(id.toLowerCase());
    if (!n) throw new HcsError(HRESULT.HCN_E_NETWORK_NOT_FOUND, 'HcnOpenNetwork', id);
    return n;
  }

  deleteNetwork(id: string): void {
    this.network(id);
    if ([...this.endpoints.values()].some((e) => e.network === id.toLowerCase())) throw new HcsError(HRESULT.HCS_E_INVALID_STATE, 'HcnDeleteNetwork', 'the network has endpoints');
    this.networks.delete(id.toLowerCase());
  }

  createEndpoint(networkId: string, id: string, s: HcnEndpoint): void {
    const key = this.checkId('HcnCreateEndpoint', id);
    const net = this.network(networkId);
    if (this.endpoints.has(key)) throw new HcsError(HRESULT.ERROR_ALREADY_EXISTS, 'HcnCreateEndpoint', id);
    if (s.SchemaVersion?.Major !== 2) throw new HcsError(HRESULT.HCN_E_INVALID_ENDPOINT, 'HcnCreateEndpoint', 'SchemaVersion 2.x is required');
    const subnet = parseCidr(net.Ipams?.[0]?.Subnets[0]?.IpAddressPrefix ?? '');
    const taken = new Set([...this.endpoints.values()].filter((e) => e.network === net.ID).flatMap((e) => (e.IpConfigurations ?? []).map((c) => c.IpAddress)));
    let ipConfigs = s.IpConfigurations;
    if (subnet) {
      if (ipConfigs?.length) {
        for (const c of ipConfigs) {
          const ip = ipToInt(c.IpAddress);
          if (((ip ^ subnet.base) >>> (32 - subnet.bits)) !== 0 || taken.has(c.IpAddress)) throw new HcsError(HRESULT.HCN_E_INVALID_ENDPOINT, 'HcnCreateEndpoint', `address ${c.IpAddress} is taken or outside ${intToIp(subnet.base)}/${subnet.bits}`);
        }
      } else {
        // HCN's static IPAM hands out the next free address after the gateway (.1)
        const size = 2 ** (32 - subnet.bits);
        let found: string | undefined;
        for (let i = 2; i < size - 1 && !found; i++) if (!taken.has(intToIp(subnet.base + i))) found = intToIp(subnet.base + i);
        if (!found) throw new HcsError(HRESULT.HCN_E_INVALID_ENDPOINT, 'HcnCreateEndpoint', 'the subnet is full');
        ipConfigs = [{ IpAddress: found, PrefixLength: subnet.bits }];
      }
    }
    for (const p of s.Policies ?? []) {
      if (p.Type !== 'PortMapping') continue;
      const want = p.Settings as { ExternalPort: number; Protocol: number; VIP?: string };
      const clash = [...this.endpoints.values()].some((e) =>
        (e.Policies ?? []).some((q) => {
          const o = q.Settings as { ExternalPort: number; Protocol: number; VIP?: string };
          return q.Type === 'PortMapping' && o.ExternalPort === want.ExternalPort && o.Protocol === want.Protocol && (o.VIP ?? '') === (want.VIP ?? '');
        }),
      );
      if (clash) throw new HcsError(HRESULT.HCN_E_PORT_ALREADY_EXISTS, 'HcnCreateEndpoint', `port ${want.ExternalPort} is published already`);
    }
    this.endpoints.set(key, { ...structuredClone(s), ...(ipConfigs ? { IpConfigurations: ipConfigs } : {}), HostComputeNetwork: net.ID, ID: key, network: net.ID });
  }

  endpoint(id: string): WithId<HcnEndpoint> & { network: string } {
    const e = this.endpoints.get(id.toLowerCase());
    if (!e) throw new HcsError(HRESULT.HCN_E_ENDPOINT_NOT_FOUND, 'HcnOpenEndpoint', id);
    return e;
  }

  deleteEndpoint(id: string): void {
    this.endpoint(id);
    for (const ns of this.namespaces.values()) ns.endpoints.delete(id.toLowerCase());
    this.endpoints.delete(id.toLowerCase());
  }

  createNamespace(id: string, s: HcnNamespace): void {
    const key = this.checkId('HcnCreateNamespace', id);
    if (this.namespaces.has(key)) throw new HcsError(HRESULT.ERROR_ALREADY_EXISTS, 'HcnCreateNamespace', id);
    if (s.SchemaVersion?.Major !== 2) throw new HcsError(HRESULT.E_INVALIDARG, 'HcnCreateNamespace', 'SchemaVersion 2.x is required');
    this.namespaces.set(key, { settings: structuredClone(s), endpoints: new Set() });
  }

  namespace(id: string): { settings: HcnNamespace; endpoints: Set<string> } {
    const ns = this.namespaces.get(id.toLowerCase());
    if (!ns) throw new HcsError(HRESULT.ERROR_NOT_FOUND, 'HcnOpenNamespace', id);
    return ns;
  }

  modifyNamespace(id: string, r: HcnNamespaceModify): void {
    const ns = this.namespace(id);
    if (r.ResourceType !== 'Endpoint' || !r.Settings.EndpointId) throw new HcsError(HRESULT.E_INVALIDARG, 'HcnModifyNamespace', 'only endpoint requests are simulated');
    const ep = this.endpoint(r.Settings.EndpointId);
    if (r.RequestType === 'Add') {
      // in this namespace or another one: HNS refuses both
      if ([...this.namespaces.values()].some((n) => n.endpoints.has(ep.ID))) throw new HcsError(HRESULT.HCN_E_ENDPOINT_ALREADY_ATTACHED, 'HcnModifyNamespace', ep.ID);
      ns.endpoints.add(ep.ID);
    } else if (!ns.endpoints.delete(ep.ID)) throw new HcsError(HRESULT.HCN_E_ENDPOINT_NOT_ATTACHED, 'HcnModifyNamespace', `${ep.ID} is not in namespace ${id}`);
  }

  deleteNamespace(id: string): void {
    this.namespace(id);
    this.namespaces.delete(id.toLowerCase());
  }
}
