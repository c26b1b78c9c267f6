import { HCN_SCHEMA_V20, type HcnEndpoint, type HcnNamespace, type HcnNamespaceModify, type HcnNetwork } from '../types.js';

/** Docker's `nat` network on Windows (the Linux `bridge`): static IPAM, default route via the gateway. */
export function natNetwork(input: { name: string; subnet: string; gateway: string }): HcnNetwork {
  return {
    Name: input.name,
    Type: 'NAT',
    Dns: {},
    Ipams: [{ Type: 'Static', Subnets: [{ IpAddressPrefix: input.subnet, Routes: [{ NextHop: input.gateway, DestinationPrefix: '0.0.0.0/0' }] }] }],
    Health: { Extra: {} },
    SchemaVersion: { ...HCN_SCHEMA_V20 },
  };
}

export interface EndpointInput {
  name: string;
  ipAddress?: string;
  prefixLength?: number;
  mac?: string;
  dnsServers?: string[];
  dnsSearch?: string[];
  /** Published ports: NAT port mapping policies. */
  ports?: { internal: number; external: number; protocol: 'tcp' | 'udp'; hostIp?: string }[];
}

export function endpointDocument(input: EndpointInput): HcnEndpoint {
  return {
    Name: input.name,
    ...(input.ipAddress ? { IpConfigurations: [{ IpAddress: input.ipAddress, ...(input.prefixLength !== undefined ? { PrefixLength: input.prefixLength } : {}) }] } : {}),
    ...(input.mac ? { MacAddress: input.mac.replace(/:/g, '-').toUpperCase() } : {}),
    Dns: { ...(input.dnsSearch?.length ? { Search: input.dnsSearch } : {}), ...(input.dnsServers?.length ? { ServerList: input.dnsServers } : {}) },
    ...(input.ports?.length
      ? {
          Policies: input.ports.map((p) => ({
            Type: 'PortMapping',
            // HCN's NatFlags/Protocol: 6 tcp, 17 udp
            Settings: { InternalPort: p.internal, ExternalPort: p.external, Protocol: p.protocol === 'udp' ? 17 : 6, ...(p.hostIp ? { VIP: p.hostIp } : {}) },
          })),
        }
      : {}),
    Health: { Extra: {} },
    SchemaVersion: { ...HCN_SCHEMA_V20 },
  };
}

export function namespaceDocument(): HcnNamespace {
  return { SchemaVersion: { ...HCN_SCHEMA_V20 } };
}

export function namespaceAddEndpoint(endpointId: string): HcnNamespaceModify {
  return { ResourceType: 'Endpoint', RequestType: 'Add', Settings: { EndpointId: endpointId } };
}

export function namespaceRemoveEndpoint(endpointId: string): HcnNamespaceModify {
  return { ResourceType: 'Endpoint', RequestType: 'Remove', Settings: { EndpointId: endpointId } };
}
