import { BerthError, ConflictError, InvalidArgumentError } from '@berth/image-format';
import { listForwardedPorts } from './iptables.js';
import { describePort, ephemeralHostPort, portAllocatedError, portsClash, tryBindHostPort, type PublishedPort } from './ports.js';

/** The containers' published ports as recorded (the attachments). */
interface PublishedPortsSource {
  values(): Promise<{ containerId: string; ports: PublishedPort[] }[]>;
}

/**
 * Checks fixed host ports and picks free ones for host port 0; nothing is bound afterwards.
 * A port clashes with one published by a container of ours, one forwarded by another
 * CNI user, or one a host process is bound to.
 */
export async function allocatePorts(attachments: PublishedPortsSource, ports: PublishedPort[]): Promise<PublishedPort[]> {
  if (ports.length === 0) return [];
  ports.forEach((p, i) => {
    const dup = p.hostPort !== 0 && ports.slice(0, i).find((q) => portsClash(p, q));
    if (dup) throw new InvalidArgumentError(`host port ${describePort(p)} is published twice`);
  });
  const recorded = (await attachments.values()).flatMap((a) => a.ports.map((p) => ({ ...p, owner: a.containerId })));
  const forwarded = await listForwardedPorts();
  const out: (PublishedPort | undefined)[] = ports.map(() => undefined);
  for (const [i, p] of ports.entries()) {
    if (p.hostPort === 0) continue;
    const mine = recorded.find((q) => portsClash(p, q));
    if (mine) throw portAllocatedError(p, `published by container ${mine.owner}`);
    if (forwarded.some((q) => portsClash(p, q))) throw portAllocatedError(p, 'forwarded by another CNI user on this host');
    const err = await tryBindHostPort(p);
    if (err === 'EADDRINUSE' || err === 'EACCES') throw portAllocatedError(p, 'a host process is bound to it');
    if (err === 'EADDRNOTAVAIL') throw new InvalidArgumentError(`host address ${p.hostIp} is not an address of this host`);
    if (err) throw new BerthError('Internal', `cannot check host port ${describePort(p)}: ${err}`);
    out[i] = p;
  }
  for (const [i, p] of ports.entries()) {
    if (p.hostPort !== 0) continue;
    for (let attempt = 0; attempt < 20 && !out[i]; attempt++) {
      const candidate = { ...p, hostPort: await ephemeralHostPort(p) };
      const assigned = out.filter((q): q is PublishedPort => q !== undefined);
      if (![...recorded, ...forwarded, ...assigned].some((q) => portsClash(candidate, q))) out[i] = candidate;
    }
    if (!out[i]) throw new ConflictError(`no free host port found for ${describePort(p)}`);
  }
  return out as PublishedPort[];
}
