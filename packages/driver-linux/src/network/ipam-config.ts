import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConflictError, InvalidArgumentError } from '@berth/image-format';
import { cidrContains, cidrSize, formatCidr, formatIpv4, nthAddress, parseCidr, parseIpv4 } from './ipv4.js';
import { cidr6Contains, cidrs6Overlap, formatCidr6, formatIpv6, lastAddress6, parseCidr6, parseIpv6 } from './ipv6.js';
import type { CreateNetworkOptions, NetworkInfo } from './types.js';

/*
 * What a network's addressing means for host-local: its subnet(s), the part dynamic
 * addresses come from (Docker's IPRange), the addresses kept back (AuxiliaryAddresses),
 * and the IPv6 prefix beside the IPv4 subnet.
 */

const SAFE_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/**
 * The key a network is filed under (record file, host-local data dir, CNI network name):
 * Docker allows any network name ("test 01", "a/b"); such a name goes to disk as a
 * digest, a plain one as itself (so records of earlier versions stay where they are).
 */
export function networkKey(name: string): string {
  return SAFE_NAME.test(name) ? name : `n-${createHash('sha256').update(name).digest('hex').slice(0, 32)}`;
}

/** The IPv4 part of IPRange and the IPv6 prefix, checked against the subnet; fills the NetworkInfo fields. */
export function extraAddressing(options: CreateNetworkOptions, subnetText: string, others: NetworkInfo[]): Pick<NetworkInfo, 'ipRange' | 'auxAddresses' | 'subnet6' | 'gateway6' | 'ipRange6'> {
  const subnet = parseCidr(subnetText);
  const out: Pick<NetworkInfo, 'ipRange' | 'auxAddresses' | 'subnet6' | 'gateway6' | 'ipRange6'> = {};
  if (options.ipRange) {
    const range = parseCidr(options.ipRange, 'ipRange');
    if (range.prefixLen < subnet.prefixLen || !cidrContains(subnet, range.network)) throw new InvalidArgumentError(`ipRange: ${options.ipRange} is not inside subnet ${subnetText}`);
    out.ipRange = formatCidr(range);
  }
  if (options.auxAddresses && options.auxAddresses.length > 0) {
    out.auxAddresses = options.auxAddresses.map((a) => {
      const ip = parseIpv4(a, 'auxiliary address');
      if (!cidrContains(subnet, ip)) throw new InvalidArgumentError(`auxiliary address ${a} is not inside subnet ${subnetText}`);
      return formatIpv4(ip);
    });
  }
  if (options.subnet6) {
    const s6 = parseCidr6(options.subnet6, 'subnet6');
    if (s6.prefixLen > 126 || s6.prefixLen < 16) throw new InvalidArgumentError(`subnet6: prefix length must be between 16 and 126, got ${s6.prefixLen}`);
    const clash = others.find((n) => n.subnet6 && cidrs6Overlap(parseCidr6(n.subnet6), s6));
    if (clash) throw new ConflictError(`subnet ${options.subnet6} overlaps network ${clash.name} (${clash.subnet6})`);
    const gw = options.gateway6 ? parseIpv6(options.gateway6, 'gateway6') : s6.network + 1n;
    if (!cidr6Contains(s6, gw) || gw === s6.network) throw new InvalidArgumentError(`gateway: ${options.gateway6} is not a host address of ${formatCidr6(s6)}`);
    out.subnet6 = formatCidr6(s6);
    out.gateway6 = formatIpv6(gw);
    if (options.ipRange6) {
      const r6 = parseCidr6(options.ipRange6, 'ipRange6');
      if (r6.prefixLen < s6.prefixLen || !cidr6Contains(s6, r6.network)) throw new InvalidArgumentError(`ipRange: ${options.ipRange6} is not inside subnet ${out.subnet6}`);
      out.ipRange6 = formatCidr6(r6);
    }
  } else if (options.gateway6 || options.ipRange6) {
    throw new InvalidArgumentError('an IPv6 gateway or range needs an IPv6 subnet');
  }
  return out;
}

interface HostLocalRange {
  subnet: string;
  gateway: string;
  rangeStart?: string;
  rangeEnd?: string;
}

/**
 * host-local's range sets for a network: IPv4, then IPv6 if it has a prefix. With a
 * fixed address the whole subnet is the range (host-local only grants a requested
 * address inside the range, Docker anywhere in the subnet); otherwise IPRange bounds it.
 */
export function hostLocalRanges(net: NetworkInfo, fixed: boolean): HostLocalRange[][] {
  const v4: HostLocalRange = { subnet: net.subnet, gateway: net.gateway };
  if (net.ipRange && !fixed) {
    const subnet = parseCidr(net.subnet);
    const r = parseCidr(net.ipRange);
    // inside the range, never the subnet's broadcast
    v4.rangeStart = formatIpv4(r.network + 1);
    v4.rangeEnd = formatIpv4(Math.min(nthAddress(r, cidrSize(r) - 1), nthAddress(subnet, cidrSize(subnet) - 2)));
  }
  const sets: HostLocalRange[][] = [[v4]];
  if (net.subnet6 && net.gateway6) {
    const v6: HostLocalRange = { subnet: net.subnet6, gateway: net.gateway6 };
    if (net.ipRange6 && !fixed) {
      const r = parseCidr6(net.ipRange6);
      v6.rangeStart = formatIpv6(r.network + 1n);
      v6.rangeEnd = formatIpv6(lastAddress6(r));
    }
    sets.push([v6]);
  }
  return sets;
}

/** The host-local data dir of a network, relative to the manager's ipam dir. */
export function ipamDir(ipamRoot: string, networkName: string): string {
  return join(ipamRoot, networkKey(networkName));
}

/**
 * Keeps the auxiliary addresses from host-local: a lease file per address (host-local's
 * own format, `<holder>\r\n<ifname>`) that no container id ever matches, so neither
 * allocation nor release by container touches it.
 */
export async function reserveAuxiliary(ipamRoot: string, net: NetworkInfo): Promise<void> {
  if (!net.auxAddresses?.length) return;
  const dir = ipamDir(ipamRoot, net.name);
  await mkdir(dir, { recursive: true });
  for (const ip of net.auxAddresses) {
    if (ip === net.gateway) continue;
    await writeFile(join(dir, ip), 'berth-auxiliary-address\r\nnone', { flag: 'w' });
  }
}
