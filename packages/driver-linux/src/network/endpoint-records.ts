import { BerthError, ConflictError, InvalidArgumentError } from '@berth/image-format';
import type { CniResult, PluginConfig } from './cni.js';
import { cidrContains, cidrSize, nthAddress, parseCidr, parseIpv4 } from './ipv4.js';
import { cidr6Contains, parseCidr6, parseIpv6 } from './ipv6.js';
import type { PublishedPort } from './ports.js';
import type { AttachedInterface, EndpointOptions, NetworkInfo, NetworkMode } from './types.js';

/*
 * A container's endpoint on one network as the manager records it: the plugin steps of
 * its chain, what it asked for (fixed addresses, MAC, link aliases), and the interface
 * the plugins made.
 */

/** One plugin invocation of a container's chain, kept verbatim so DEL repeats it exactly. */
export interface PluginStep {
  config: PluginConfig;
  runtimeConfig?: Record<string, unknown>;
}

export interface NetworkAttachmentRecord {
  network: string;
  ifname: string;
  aliases: string[];
  ipv4Address?: string;
  ipv6Address?: string;
  mac?: string;
  links?: { alias: string; target: string }[];
  steps: PluginStep[];
  /** The chain's latest result: the prevResult of the next ADD and of every DEL. */
  result?: CniResult;
  iface?: AttachedInterface;
}

/** A container's network attachment as the manager records it (one file per container). */
export interface AttachmentRecord {
  containerId: string;
  mode: NetworkMode;
  netnsPath?: string;
  hostname?: string;
  /** The directory of the container's bind-mounted `hosts` file, rewritten by connect/disconnect. */
  hostFilesDir?: string;
  ports: PublishedPort[];
  /** `attaching` until every ADD succeeded; either way detach undoes whatever is recorded. */
  phase: 'attaching' | 'attached';
  networks: NetworkAttachmentRecord[];
}

/** Fixed addresses must be host addresses of the network that no other container holds. */
export function checkFixedAddresses(net: NetworkInfo, w: EndpointOptions, existing: { containerId: string; networks: NetworkAttachmentRecord[] }[]): void {
  const ip = w.ipv4Address;
  if (ip !== undefined) {
    const subnet = parseCidr(net.subnet);
    const addr = parseIpv4(ip, 'ipv4Address');
    if (!cidrContains(subnet, addr) || addr === subnet.network || addr === nthAddress(subnet, cidrSize(subnet) - 1) || ip === net.gateway) {
      throw new InvalidArgumentError(`ipv4Address: ${ip} is not a free host address of network ${net.name} (${net.subnet}, gateway ${net.gateway})`);
    }
  }
  const ip6 = w.ipv6Address;
  if (ip6 !== undefined) {
    if (!net.subnet6) throw new InvalidArgumentError(`ipv6Address: network ${net.name} has no IPv6 subnet (EnableIPv6)`);
    const addr = parseIpv6(ip6, 'ipv6Address');
    const s6 = parseCidr6(net.subnet6);
    if (!cidr6Contains(s6, addr) || addr === s6.network || (net.gateway6 && addr === parseIpv6(net.gateway6))) {
      throw new InvalidArgumentError(`ipv6Address: ${ip6} is not a free host address of network ${net.name} (${net.subnet6}, gateway ${net.gateway6})`);
    }
  }
  const same = (a?: string, b?: string) => a !== undefined && b !== undefined && (a.includes(':') ? parseIpv6(a) === parseIpv6(b) : a === b);
  for (const a of existing) {
    for (const n of a.networks) {
      if (n.network !== net.name) continue;
      if (same(ip, n.iface?.ip ?? n.ipv4Address) || same(ip6, n.iface?.ip6 ?? n.ipv6Address)) {
        throw new ConflictError(`address ${ip ?? ip6} on network ${net.name} is already in use by container ${a.containerId}`);
      }
    }
  }
}

/** An endpoint as recorded before its ADD. */
export function endpointRecord(info: NetworkInfo, ifname: string, ep: EndpointOptions, steps: PluginStep[]): NetworkAttachmentRecord {
  return {
    network: info.name,
    ifname,
    aliases: [...(ep.aliases ?? [])],
    ...(ep.ipv4Address ? { ipv4Address: ep.ipv4Address } : {}),
    ...(ep.ipv6Address ? { ipv6Address: ep.ipv6Address } : {}),
    ...(ep.mac ? { mac: ep.mac } : {}),
    ...(ep.links?.length ? { links: ep.links } : {}),
    steps,
  };
}

/** The IPv6 gateway the bridge carries, if the network has a prefix. */
export function bridgeV6(net: NetworkInfo): { gateway: string; prefixLen: number } | undefined {
  return net.subnet6 && net.gateway6 ? { gateway: net.gateway6, prefixLen: parseCidr6(net.subnet6).prefixLen } : undefined;
}

export function interfaceOf(network: string, ifname: string, result: CniResult | undefined): AttachedInterface {
  const sandboxIdx = result?.interfaces?.findIndex((i) => i.name === ifname && i.sandbox) ?? -1;
  const pick = (v6: boolean) => {
    const inFamily = (ip: { address: string }) => ip.address.includes(':') === v6;
    return result?.ips?.find((ip) => ip.interface === sandboxIdx && inFamily(ip)) ?? result?.ips?.find(inFamily);
  };
  const ipEntry = pick(false);
  if (!result || !ipEntry) throw new BerthError('Internal', `CNI result for ${network} has no IPv4 address`);
  const [ip = '', len = '32'] = ipEntry.address.split('/');
  const v6 = pick(true);
  const [ip6 = '', len6 = '64'] = v6?.address.split('/') ?? [];
  return {
    network,
    ifname,
    ip,
    prefixLen: Number(len),
    gateway: ipEntry.gateway ?? '',
    ...(v6 ? { ip6, prefixLen6: Number(len6), gateway6: v6.gateway ?? '' } : {}),
    mac: (sandboxIdx >= 0 ? result.interfaces?.[sandboxIdx]?.mac : undefined) ?? '',
  };
}
