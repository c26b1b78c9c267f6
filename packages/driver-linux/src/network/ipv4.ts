import { InvalidArgumentError } from '@berth/image-format';

/** An IPv4 network in CIDR form; `network` is the masked base address as a 32-bit number. */
export interface Ipv4Cidr {
  network: number;
  prefixLen: number;
}

const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIpv4(text: string): boolean {
  return IPV4_RE.test(text);
}

export function parseIpv4(text: string, field = 'address'): number {
  if (!isIpv4(text)) throw new InvalidArgumentError(`${field}: invalid IPv4 address ${JSON.stringify(text)}`);
  return text.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

export function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

function maskOf(prefixLen: number): number {
  return prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
}

/**
 * Parses `a.b.c.d/n`; a bare address is a /32. With `strict`, host bits must be zero
 * (a subnet given by a user); otherwise they are masked off (a route or an address).
 */
export function parseCidr(text: string, field = 'subnet', strict = true): Ipv4Cidr {
  const [addr = '', len, ...rest] = text.split('/');
  const prefixLen = len === undefined ? 32 : Number(len);
  if (rest.length > 0 || !Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > 32 || (len !== undefined && !/^\d+$/.test(len))) {
    throw new InvalidArgumentError(`${field}: invalid IPv4 CIDR ${JSON.stringify(text)}`);
  }
  const ip = parseIpv4(addr, field);
  const network = (ip & maskOf(prefixLen)) >>> 0;
  if (strict && network !== ip) {
    throw new InvalidArgumentError(`${field}: ${text} has host bits set (did you mean ${formatIpv4(network)}/${prefixLen}?)`);
  }
  return { network, prefixLen };
}

export function formatCidr(cidr: Ipv4Cidr): string {
  return `${formatIpv4(cidr.network)}/${cidr.prefixLen}`;
}

export function cidrSize(cidr: Ipv4Cidr): number {
  return 2 ** (32 - cidr.prefixLen);
}

export function cidrContains(cidr: Ipv4Cidr, ip: number): boolean {
  return ((ip & maskOf(cidr.prefixLen)) >>> 0) === cidr.network;
}

export function cidrsOverlap(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  const shorter = Math.min(a.prefixLen, b.prefixLen);
  const mask = maskOf(shorter);
  return ((a.network & mask) >>> 0) === ((b.network & mask) >>> 0);
}

/** The n-th address of the network (1 = first host). */
export function nthAddress(cidr: Ipv4Cidr, n: number): number {
  return (cidr.network + n) >>> 0;
}

/** The /`size` subnets of `pool`, in address order. */
export function* subnetsOf(pool: Ipv4Cidr, size: number): Generator<Ipv4Cidr> {
  if (size < pool.prefixLen) return;
  const step = 2 ** (32 - size);
  const count = 2 ** (size - pool.prefixLen);
  for (let i = 0; i < count; i++) yield { network: (pool.network + i * step) >>> 0, prefixLen: size };
}
