import { InvalidArgumentError, NotFoundError } from '@berth/image-format';
import type { IPAMConfig, NetworkCreateBody } from './docker-types.js';

/** What a network create asks of the bridge driver's addressing. */
export interface IpamRequest {
  subnet?: string;
  gateway?: string;
  ipRange?: string;
  auxAddresses?: string[];
  subnet6?: string;
  gateway6?: string;
  ipRange6?: string;
}

const isV6 = (c: IPAMConfig): boolean => (c.Subnet || c.Gateway || c.IPRange || '').includes(':');

/** A pool as the client gave it, without the nulls Python and Go clients send for unset fields. */
function cleaned(c: IPAMConfig): IPAMConfig {
  return Object.fromEntries(Object.entries(c).filter(([, v]) => v !== null && v !== undefined && v !== '')) as IPAMConfig;
}

/**
 * Splits IPAM.Config into the IPv4 and IPv6 pool (one of each, as the bridge driver
 * here has one subnet per family). `shown` is what inspect answers, as dockerd 20.10
 * does: the pools as given, after the allocated IPv4 one when none was given.
 */
export function ipamRequest(body: NetworkCreateBody): { request: IpamRequest; given: IPAMConfig[] } {
  const given = (body.IPAM?.Config ?? []).filter((c): c is IPAMConfig => !!c).map(cleaned);
  const v4 = given.filter((c) => !isV6(c));
  const v6 = given.filter(isV6);
  if (v4.length > 1 || v6.length > 1) throw new InvalidArgumentError('bridge networks take one IPv4 and one IPv6 pool');
  if (body.EnableIPv6 && !v6[0]?.Subnet) {
    // dockerd's answer (and status) when EnableIPv6 comes without a pool: it has no default IPv6 pools
    throw new NotFoundError('could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network');
  }
  const a = v4[0];
  const b = body.EnableIPv6 ? v6[0] : undefined;
  const request: IpamRequest = {
    ...(a?.Subnet ? { subnet: a.Subnet } : {}),
    ...(a?.Gateway ? { gateway: a.Gateway } : {}),
    ...(a?.IPRange ? { ipRange: a.IPRange } : {}),
    ...(a?.AuxiliaryAddresses && Object.keys(a.AuxiliaryAddresses).length > 0 ? { auxAddresses: Object.values(a.AuxiliaryAddresses) } : {}),
    ...(b?.Subnet ? { subnet6: b.Subnet } : {}),
    ...(b?.Gateway ? { gateway6: b.Gateway } : {}),
    ...(b?.IPRange ? { ipRange6: b.IPRange } : {}),
  };
  return { request, given: [...v4, ...v6] };
}

/** IPAM.Config in inspect: the given pools, after the allocated IPv4 pool when no IPv4 pool was given. */
export function shownIpam(given: IPAMConfig[], allocated: { Subnet: string; Gateway: string }): IPAMConfig[] {
  return given.some((c) => !isV6(c)) ? given : [allocated, ...given];
}
