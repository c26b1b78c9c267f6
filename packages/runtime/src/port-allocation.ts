// The one allocator of published host ports: every network driver decides with it which
// host ports a container gets, so they all follow the same rules (Docker's): a fixed port
// is refused when a container, something else publishing on the host, or a host process
// holds it; host port 0 gets a free ephemeral one. Drivers differ only in how they look at
// the host (the HostPorts they pass).
import { BerthError, ConflictError, InvalidArgumentError } from '@berth/image-format';
import type { PublishedPort } from './network.js';

/** A host address, port and protocol; hostIp '' is every address. */
export interface HostBinding {
  hostIp: string;
  hostPort: number;
  protocol: string;
}

/** What a driver knows about its host's ports. */
export interface HostPorts {
  /** Tries to bind the address and port now (and releases it): undefined when free, else the errno code (EADDRINUSE, EADDRNOTAVAIL...). */
  tryBind(p: PublishedPort): Promise<string | undefined>;
  /** A candidate for host port 0 (the kernel's ephemeral choice, or the driver's own counter). */
  ephemeral(p: PublishedPort): Promise<number>;
  /** Ports published on this host by something other than the driver's containers (another CNI user's forwards). */
  foreign?(): Promise<HostBinding[]>;
  /** Who the foreign ports belong to, for the error (default `another user of this host`). */
  foreignOwner?: string;
}

/** Two bindings clash when protocol and port match and either address is the wildcard or both are equal. */
export function portsClash(a: HostBinding, b: HostBinding): boolean {
  return a.protocol === b.protocol && a.hostPort === b.hostPort && (a.hostIp === '' || b.hostIp === '' || a.hostIp === b.hostIp);
}

function describePort(p: HostBinding): string {
  return `${p.hostIp || '0.0.0.0'}:${p.hostPort}/${p.protocol}`;
}

function portAllocatedError(p: HostBinding, why: string): ConflictError {
  // dockerd's words (no protocol in the address); why it is taken comes after them
  return new ConflictError(`Bind for ${p.hostIp || '0.0.0.0'}:${p.hostPort} failed: port is already allocated (${why})`);
}

/**
 * Checks fixed host ports and picks free ones for host port 0, for one container whose
 * `ports` are normalized (wildcard '', protocol set); `published` is what the driver's other
 * containers hold. Nothing is bound afterwards. Throws ConflictError for a port taken,
 * InvalidArgumentError for a port asked twice or a host address the host does not have.
 */
export async function allocatePorts(
  ports: readonly PublishedPort[],
  published: readonly { containerId: string; ports: readonly PublishedPort[] }[],
  host: HostPorts,
): Promise<PublishedPort[]> {
  if (ports.length === 0) return [];
  ports.forEach((p, i) => {
    const dup = p.hostPort !== 0 && ports.slice(0, i).find((q) => portsClash(p, q));
    if (dup) throw new InvalidArgumentError(`host port ${describePort(p)} is published twice`);
  });
  const recorded = published.flatMap((a) => a.ports.map((p) => ({ ...p, owner: a.containerId })));
  const foreign = (await host.foreign?.()) ?? [];
  const out: (PublishedPort | undefined)[] = ports.map(() => undefined);
  for (const [i, p] of ports.entries()) {
    if (p.hostPort === 0) continue;
    const mine = recorded.find((q) => portsClash(p, q));
    if (mine) throw portAllocatedError(p, `published by container ${mine.owner}`);
    if (foreign.some((q) => portsClash(p, q))) throw portAllocatedError(p, `forwarded by ${host.foreignOwner ?? 'another user of this host'}`);
    const err = await host.tryBind(p);
    if (err === 'EADDRINUSE' || err === 'EACCES') throw portAllocatedError(p, 'a host process is bound to it');
    if (err === 'EADDRNOTAVAIL') throw new InvalidArgumentError(`host address ${p.hostIp} is not an address of this host`);
    if (err) throw new BerthError('Internal', `cannot check host port ${describePort(p)}: ${err}`);
    out[i] = { ...p };
  }
  for (const [i, p] of ports.entries()) {
    if (p.hostPort !== 0) continue;
    for (let attempt = 0; attempt < 20 && !out[i]; attempt++) {
      const candidate = { ...p, hostPort: await host.ephemeral(p) };
      const assigned = out.filter((q): q is PublishedPort => q !== undefined);
      if (![...recorded, ...foreign, ...assigned].some((q) => portsClash(candidate, q))) out[i] = candidate;
    }
    if (!out[i]) throw new ConflictError(`no free host port found for ${describePort(p)}`);
  }
  return out as PublishedPort[];
}
