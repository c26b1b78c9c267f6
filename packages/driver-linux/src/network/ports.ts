import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { ConflictError, InvalidArgumentError } from '@berth/image-format';
import { isIpv4 } from './ipv4.js';

export interface PortMapping {
  /** Host address to publish on; empty or 0.0.0.0 means every host address. */
  hostIp?: string;
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
}

/** Normalises and validates mappings: IPv4 host addresses only, ports 1-65535. */
export function normalizePorts(ports: readonly PortMapping[]): Required<PortMapping>[] {
  const out: Required<PortMapping>[] = [];
  ports.forEach((p, i) => {
    const field = `ports[${i}]`;
    const hostIp = p.hostIp === undefined || p.hostIp === '' || p.hostIp === '0.0.0.0' ? '' : p.hostIp;
    if (hostIp !== '' && !isIpv4(hostIp)) throw new InvalidArgumentError(`${field}.hostIp: only IPv4 host addresses are supported, got ${JSON.stringify(p.hostIp)}`);
    for (const [k, v] of [['hostPort', p.hostPort], ['containerPort', p.containerPort]] as const) {
      if (!Number.isInteger(v) || v < 1 || v > 65535) throw new InvalidArgumentError(`${field}.${k}: invalid port ${String(v)}`);
    }
    if (p.protocol !== 'tcp' && p.protocol !== 'udp') throw new InvalidArgumentError(`${field}.protocol: must be tcp or udp`);
    out.push({ hostIp, hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol });
  });
  return out;
}

/** Two bindings clash when protocol and port match and either address is the wildcard or both are equal. */
export function portsClash(a: { hostIp: string; hostPort: number; protocol: string }, b: { hostIp: string; hostPort: number; protocol: string }): boolean {
  return a.protocol === b.protocol && a.hostPort === b.hostPort && (a.hostIp === '' || b.hostIp === '' || a.hostIp === b.hostIp);
}

export function describePort(p: { hostIp: string; hostPort: number; protocol: string }): string {
  return `${p.hostIp || '0.0.0.0'}:${p.hostPort}/${p.protocol}`;
}

export function portAllocatedError(p: { hostIp: string; hostPort: number; protocol: string }, why: string): ConflictError {
  return new ConflictError(`Bind for ${describePort(p)} failed: port is already allocated (${why})`);
}

/**
 * Tries to bind the address and port on the host right now (and releases it): resolves
 * undefined when free, else the errno code (EADDRINUSE, EADDRNOTAVAIL, ...).
 */
export function tryBindHostPort(p: { hostIp: string; hostPort: number; protocol: 'tcp' | 'udp' }): Promise<string | undefined> {
  const host = p.hostIp || '0.0.0.0';
  return new Promise((resolve) => {
    if (p.protocol === 'tcp') {
      const server = createServer();
      server.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'EINVAL'));
      server.listen({ host, port: p.hostPort, exclusive: true }, () => server.close(() => resolve(undefined)));
    } else {
      const sock = createSocket('udp4');
      sock.once('error', (e: NodeJS.ErrnoException) => {
        sock.close();
        resolve(e.code ?? 'EINVAL');
      });
      sock.bind({ address: host, port: p.hostPort, exclusive: true }, () => sock.close(() => resolve(undefined)));
    }
  });
}
