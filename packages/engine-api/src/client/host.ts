import { InvalidArgumentError, UnsupportedError } from '@berth/image-format';

/** Where berthd listens by default. */
export const DEFAULT_SOCKET_PATH = '/run/berth/berthd.sock';
export const DEFAULT_HOST = `unix://${DEFAULT_SOCKET_PATH}`;
/** Where berthd listens on Windows: a named pipe, as dockerd's `//./pipe/docker_engine`. */
export const DEFAULT_PIPE_PATH = '\\\\.\\pipe\\berth_engine';
export const DEFAULT_WINDOWS_HOST = 'npipe:////./pipe/berth_engine';

/** The default daemon address on `platform`: the named pipe on Windows, the unix socket elsewhere. */
export function defaultHost(platform: NodeJS.Platform = process.platform): string {
  return platform === 'win32' ? DEFAULT_WINDOWS_HOST : DEFAULT_HOST;
}

/** True for a Windows named pipe path (`\\.\pipe\name`), which Node listens and connects on like a socket path. */
export function isNamedPipePath(path: string): boolean {
  return /^\\\\\.\\pipe\\[^\\]+$/.test(path);
}
/** Docker's unencrypted tcp port, used when a tcp:// host names none. */
export const DEFAULT_TCP_PORT = 2375;

/**
 * A parsed daemon address: a unix socket or a local named pipe (`socketPath`: Node's net
 * takes both), or a host and port (plain http).
 */
export type EngineTarget = { socketPath: string } | { hostname: string; port: number };

/**
 * Parses DOCKER_HOST-style addresses: `unix:///path`, `npipe:////./pipe/name` (a local
 * named pipe, as Docker writes it), `tcp://host:port`, `http://host:port`, or a bare
 * absolute socket path. TLS (`https://`) is not supported here.
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
  if (scheme === 'npipe') {
    // Docker's form is npipe:////./pipe/name; remote pipes (//server/pipe/x) are not served.
    const pm = /^(?:\/\/|\\\\)\.[/\\]pipe[/\\]([^/\\]+)$/.exec(rest);
    if (!pm) throw new InvalidArgumentError(`invalid named pipe address ${JSON.stringify(host)}: expected npipe:////./pipe/NAME`);
    return { socketPath: `\\\\.\\pipe\\${pm[1]}` };
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

/** The address a client should use: BERTH_HOST, then DOCKER_HOST, then the platform's default. */
export function hostFromEnv(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  return env['BERTH_HOST'] || env['DOCKER_HOST'] || defaultHost(platform);
}
