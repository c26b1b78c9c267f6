import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { InvalidArgumentError } from '@berth/image-format';
import { isIpv4 } from './ipv4.js';

export interface PortMapping {
  /** Host address to publish on; empty or 0.0.0.0 means every host address. */
  hostIp?: string;
  /** 0 picks a free ephemeral port (Docker's `-p 80`). */
  hostPort: number;
  containerPort: number;
  /** Default tcp. */
  protocol?: 'tcp' | 'udp';
}

/** A mapping after normalisation: wildcard as '', protocol filled in. */
export type PublishedPort = Required<PortMapping>;

/** Normalises and validates mappings: IPv4 host addresses only, ports 1-65535 (host port 0 = any). */
export function normalizePorts(ports: readonly PortMapping[]): PublishedPort[] {
  const out: PublishedPort[] = [];
  ports.forEach((p, i) => {
    const field = `ports[${i}]`;
    // '::' (Docker's dual-stack wildcard) publishes on every IPv4 address here: no IPv6 yet.
    const hostIp = p.hostIp === undefined || p.hostIp === '' || p.hostIp === '0.0.0.0' || p.hostIp === '::' ? '' : p.hostIp;
    if (hostIp !== '' && !isIpv4(hostIp)) throw new InvalidArgumentError(`${field}.hostIp: only IPv4 host addresses are supported, got ${JSON.stringify(p.hostIp)}`);
    for (const [k, v, min] of [['hostPort', p.hostPort, 0], ['containerPort', p.containerPort, 1]] as const) {
      if (!Number.isInteger(v) || v < min || v > 65535) throw new InvalidArgumentError(`${field}.${k}: invalid port ${String(v)}`);
    }
    const protocol = p.protocol ?? 'tcp';
    if (protocol !== 'tcp' && protocol !== 'udp') throw new InvalidArgumentError(`${field}.protocol: must be tcp or udp`);
    const same = out.some((q) => q.hostIp === hostIp && q.hostPort === p.hostPort && q.hostPort !== 0 && q.containerPort === p.containerPort && q.protocol === protocol);
    if (!same) out.push({ hostIp, hostPort: p.hostPort, containerPort: p.containerPort, protocol });
  });
  return out;
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

/** Asks the kernel for a free ephemeral port on the host address (bound, then released). */
export function ephemeralHostPort(p: { hostIp: string; protocol: 'tcp' | 'udp' }): Promise<number> {
  const host = p.hostIp || '0.0.0.0';
  return new Promise((resolve, reject) => {
    if (p.protocol === 'tcp') {
      const server = createServer();
      server.once('error', reject);
      server.listen({ host, port: 0, exclusive: true }, () => {
        const addr = server.address();
        server.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
      });
    } else {
      const sock = createSocket('udp4');
      sock.once('error', reject);
      sock.bind({ address: host, port: 0, exclusive: true }, () => {
        const port = sock.address().port;
        sock.close(() => resolve(port));
      });
    }
  });
}
