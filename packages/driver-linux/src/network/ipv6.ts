import { isIP } from 'node:net';
import { InvalidArgumentError } from '@berth/image-format';

/** An IPv6 prefix; `network` is the address with the host bits cleared. */
interface Ipv6Cidr {
  network: bigint;
  prefixLen: number;
}

const ALL = (1n << 128n) - 1n;

export function parseIpv6(text: string, field = 'address'): bigint {
  if (isIP(text) !== 6) throw new InvalidArgumentError(`${field}: invalid IPv6 address ${JSON.stringify(text)}`);
  let [head = '', tail] = text.split('::') as [string, string | undefined];
  // an embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(tail ?? head);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    const groups = `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
    if (tail !== undefined) tail = tail.replace(v4[0], groups);
    else head = head.replace(v4[0], groups);
  }
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** RFC 5952 text: lowercase, leading zeros dropped, the longest run of zero groups as `::`. */
export function formatIpv6(value: bigint): string {
  const groups = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn));
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.len && j - i > 1) best = { at: i, len: j - i };
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.at < 0) return hex.join(':');
  return `${hex.slice(0, best.at).join(':')}::${hex.slice(best.at + best.len).join(':')}`;
}

/** `2001:db8::/64`; with `strict`, host bits must be zero (as Docker requires of a subnet). */
export function parseCidr6(text: string, field = 'subnet', strict = true): Ipv6Cidr {
  const [addr = '', len, extra] = text.split('/');
  const prefixLen = Number(len);
  if (extra !== undefined || len === undefined || !/^\d{1,3}$/.test(len) || prefixLen > 128) throw new InvalidArgumentError(`${field}: invalid IPv6 CIDR ${JSON.stringify(text)}`);
  const ip = parseIpv6(addr, field);
  const network = ip & mask(prefixLen);
  if (strict && network !== ip) throw new InvalidArgumentError(`${field}: ${text} has host bits set (did you mean ${formatCidr6({ network, prefixLen })}?)`);
  return { network, prefixLen };
}

export function formatCidr6(c: Ipv6Cidr): string {
  return `${formatIpv6(c.network)}/${c.prefixLen}`;
}

function mask(prefixLen: number): bigint {
  return prefixLen === 0 ? 0n : (ALL << BigInt(128 - prefixLen)) & ALL;
}

export function cidr6Contains(c: Ipv6Cidr, ip: bigint): boolean {
  return (ip & mask(c.prefixLen)) === c.network;
}

export function cidrs6Overlap(a: Ipv6Cidr, b: Ipv6Cidr): boolean {
  return cidr6Contains(a, b.network) || cidr6Contains(b, a.network);
}

/** The last address of a prefix. */
export function lastAddress6(c: Ipv6Cidr): bigint {
  return c.network | (~mask(c.prefixLen) & ALL);
}
