import type { ContainerCreateBody, EndpointSettings } from '../docker-types.js';
import { endpointRequest } from '../networks.js';
import type { ContainerRecord } from './record.js';
import type { NetworkAttachment } from '@berth/runtime';

/** Finds a network by name or ID (NotFoundError otherwise). */
type Resolve = (nameOrId: string) => { id: string; name: string; driver: string };

/** An endpoint as a new container records it: what was asked for, the run's fields empty. */
function configured(net: { id: string; name: string }, ep: EndpointSettings | undefined, name: string, id: string, mac: string | undefined): EndpointSettings {
  return {
    IPAMConfig: ep?.IPAMConfig ?? null,
    Links: ep?.Links?.length ? ep.Links : null,
    Aliases: ep?.Aliases ?? null,
    NetworkID: net.id,
    EndpointID: '',
    Gateway: '',
    IPAddress: '',
    IPPrefixLen: 0,
    IPv6Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    MacAddress: mac ?? '',
    DriverOpts: ep?.DriverOpts && Object.keys(ep.DriverOpts).length > 0 ? ep.DriverOpts : null,
    DNSNames: net.name === 'bridge' ? null : [name, ...(ep?.Aliases ?? []), id.slice(0, 12)],
  };
}

/**
 * The endpoints a container is created with: its NetworkMode's network with that
 * network's EndpointsConfig entry (and the deprecated top-level MacAddress), and, as
 * API 1.44+ allows, one endpoint per further EndpointsConfig entry, each naming an
 * existing network. Returns the configured MACs apart: the record's MacAddress field
 * holds the running interface's.
 */
export function createEndpoints(
  body: ContainerCreateBody,
  netName: string,
  resolve: Resolve,
  name: string,
  id: string,
): { networks: ContainerRecord['networks']; macs: Record<string, string> } {
  const networks: ContainerRecord['networks'] = {};
  const macs: Record<string, string> = {};
  const configs = body.NetworkingConfig?.EndpointsConfig ?? {};
  if (netName === 'host' || netName === 'none') {
    networks[netName] = { NetworkID: resolve(netName).id, EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0, MacAddress: '' };
    return { networks, macs };
  }
  if (netName.startsWith('container:')) return { networks, macs };
  const primary = resolve(netName);
  const primaryKey = [netName, primary.name, primary.id].find((k) => configs[k]);
  const ep = primaryKey ? configs[primaryKey] : undefined;
  const mac = ep?.MacAddress || body.MacAddress || undefined;
  networks[primary.name] = configured(primary, ep, name, id, mac);
  if (mac) macs[primary.name] = mac;
  for (const [key, extra] of Object.entries(configs)) {
    if (key === primaryKey || !extra) continue;
    const net = resolve(key);
    if (networks[net.name]) continue;
    networks[net.name] = configured(net, extra, name, id, extra.MacAddress || undefined);
    if (extra.MacAddress) macs[net.name] = extra.MacAddress;
  }
  return { networks, macs };
}

/** The networks a start attaches, with what each endpoint asks for. */
export function runNetworks(r: ContainerRecord): NetworkAttachment[] {
  return Object.entries(r.networks)
    .filter(([n]) => n !== 'host' && n !== 'none')
    .map(([n, ep]) => {
      const m = endpointRequest(n, ep, r.macs?.[n] ?? '');
      return {
        name: n,
        aliases: ep.Aliases ?? [],
        ...(m.ipv4Address ? { ipv4Address: m.ipv4Address } : {}),
        ...(m.ipv6Address ? { ipv6Address: m.ipv6Address } : {}),
        ...(m.mac ? { mac: m.mac } : {}),
        // on the default bridge, links are legacy links (environment and hosts entries), not DNS
        ...(m.links?.length && n !== 'bridge' ? { links: m.links } : {}),
      };
    });
}
