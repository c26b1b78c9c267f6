import type { PortMapping } from '@berth/runtime';
import type { PublishedPort } from '../container-config.js';

/**
 * The container's published ports once its run is created: the network driver (the one
 * port allocator) picked the host ports asked as 0; every other field stays as the
 * create asked it (inspect shows HostIp as given). `given` undefined: the driver
 * published nothing (no network of its own), the request stands.
 */
export function resolvedPorts(requested: PublishedPort[], given: PortMapping[] | undefined): PublishedPort[] {
  if (!given?.length) return requested;
  const left = [...given];
  const sameProto = (a: PublishedPort['protocol'], b: PortMapping['protocol']) => (a === 'udp') === (b === 'udp');
  const take = (p: PublishedPort, fixed: boolean): number | undefined => {
    const i = left.findIndex((g) => g.containerPort === p.containerPort && sameProto(p.protocol, g.protocol) && (!fixed || g.hostPort === p.hostPort));
    return i < 0 ? undefined : left.splice(i, 1)[0]!.hostPort;
  };
  // the fixed ones first: what is left for a 0 is the driver's pick
  for (const p of requested) if (p.hostPort !== 0) take(p, true);
  return requested.map((p) => (p.hostPort !== 0 ? p : { ...p, hostPort: take(p, false) ?? 0 }));
}
