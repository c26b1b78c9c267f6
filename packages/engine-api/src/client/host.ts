import { InvalidArgumentError, UnsupportedError } from '@berth/image-format';

/** Where berthd listens by default. */
export const DEFAULT_SOCKET_PATH = '/run/berth/berthd.sock';
export const DEFAULT_HOST = `unix://${DEFAULT_SOCKET_PATH}`;
/** Docker's unencrypted tcp port, used when a tcp:// host names none. */
export const DEFAULT_TCP_PORT = 2375;

/** A parsed daemon address: a unix socket, or a host and port (plain http). */
export type EngineTarget = { socketPath: string } | { hostname: string; port: number };

/**
 * Parses DOCKER_HOST-style addresses: `unix:///path`, `tcp://host:port`,
 * `http://host:port`, or a bare absolute socket path. Named pipes and TLS
 * (`https://`) are not supported here.
 */
export function parseHost(host: string): EngineTarget {
  const h = host.trim();
  if (h.startsWith('/')) return { socketPath: h };
  const m = /^([a-z]+):\/\/(.*)$/i.exec(h);
  if (!m) throw new InvalidArgumentError(`invalid host address ${JSON.stringify(host)}: expected unix:///path or tcp://host:port`);
  const scheme = (m[1] as string).toLowerCase();
  const rest = m[2] as string;
  if (scheme === 'unix') {
    if (!rest.startsWith('/')) throw new InvalidArgumentError(`invalid unix socket address ${JSON.stringify(host)}: path must be absolute`);
    return { socketPath: rest };
  }
  if (scheme === 'tcp' || scheme === 'http') {
    const hostPart = rest.replace(/\/.*$/, '');
    const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(hostPart);
    const v4 = /^([^:]*)(?::(\d+))?$/.exec(hostPart);
    const hm = v6 ?? v4;
    if (!hm) throw new InvalidArgumentError(`invalid tcp address ${JSON.stringify(host)}`);
    const hostname = hm[1] || '127.0.0.1';
    const port = hm[2] ? Number(hm[2]) : DEFAULT_TCP_PORT;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError(`invalid port in ${JSON.stringify(host)}`);
    return { hostname, port };
  }
  throw new UnsupportedError(`unsupported host scheme ${JSON.stringify(scheme)} in ${JSON.stringify(host)}`);
}

/** The address a client should use: BERTH_HOST, then DOCKER_HOST, then the default socket. */
export function hostFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return env['BERTH_HOST'] || env['DOCKER_HOST'] || DEFAULT_HOST;
}
