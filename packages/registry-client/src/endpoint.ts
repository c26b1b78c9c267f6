import { readFile, readdir } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';

/** Where and how to reach one registry. */
export interface RegistryEndpoint {
  /** The registry as named in references (`docker.io`, `127.0.0.1:5000`). */
  registry: string;
  /** `https://host[:port]` or `http://host[:port]`; never has a trailing slash. */
  baseUrl: string;
  /** Other URLs to try in order when `baseUrl` cannot be reached at the TLS level. */
  fallbackUrls: string[];
  /** TLS settings for https; undefined for plain http. */
  tls?: EndpointTls;
}

export interface EndpointTls {
  /** Extra trusted CA certificates (PEM), from certs.d. */
  ca?: string[];
  /** Client certificate and key (PEM), from certs.d `*.cert` / `*.key`. */
  cert?: string;
  key?: string;
  /** False only for registries the user listed as insecure. */
  rejectUnauthorized: boolean;
}

export interface EndpointOptions {
  /** Registries (`host[:port]`) to reach over plain http or unverified TLS, like Docker's `insecure-registries`. */
  insecureRegistries?: string[];
  /** Treat localhost, 127.0.0.0/8 and ::1 as insecure as Docker does (default true). */
  loopbackInsecure?: boolean;
  /** Docker-style certs.d directory (default /etc/berth/certs.d): `<dir>/<host[:port]>/ca.crt`. */
  certsDir?: string;
}

export const DEFAULT_CERTS_DIR = '/etc/berth/certs.d';

/** docker.io is an alias: the API lives at registry-1.docker.io. */
export function apiHost(registry: string): string {
  return registry === 'docker.io' || registry === 'index.docker.io' ? 'registry-1.docker.io' : registry;
}

/** Splits `host[:port]`, `[v6]:port` or a bare v6 address into its host part. */
export function hostOf(registry: string): string {
  if (registry.startsWith('[')) return registry.slice(1, registry.indexOf(']'));
  if (isIP(registry) === 6) return registry;
  const colon = registry.lastIndexOf(':');
  return colon >= 0 ? registry.slice(0, colon) : registry;
}

export function isLoopbackRegistry(registry: string): boolean {
  const host = hostOf(registry).toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

/** Reads `<certsDir>/<registry>/`: every `*.crt` is a CA, `client.cert`/`client.key` a client pair. */
async function readCertsDir(certsDir: string, registry: string): Promise<Omit<EndpointTls, 'rejectUnauthorized'>> {
  const dir = join(certsDir, registry.replace(/[[\]]/g, ''));
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    try {
      names = await readdir(join(certsDir, registry));
    } catch {
      return {};
    }
  }
  const out: Omit<EndpointTls, 'rejectUnauthorized'> = {};
  const ca: string[] = [];
  for (const name of names.sort()) {
    if (name.endsWith('.crt')) ca.push(await readFile(join(dir, name), 'utf8'));
    else if (name.endsWith('.cert')) {
      const keyName = name.slice(0, -'.cert'.length) + '.key';
      if (names.includes(keyName)) {
        out.cert = await readFile(join(dir, name), 'utf8');
        out.key = await readFile(join(dir, keyName), 'utf8');
      }
    }
  }
  if (ca.length) out.ca = ca;
  return out;
}

/**
 * Decides the scheme and TLS settings for a registry:
 * - a secure registry: https, TLS verified against the system CAs plus certs.d CAs;
 * - an insecure one (listed, or loopback by default) with a CA in certs.d: https verified
 *   (the user set TLS up for it);
 * - an insecure one without: https unverified first, then plain http (Docker's order).
 */
export async function resolveEndpoint(registry: string, opts: EndpointOptions = {}): Promise<RegistryEndpoint> {
  const host = apiHost(registry);
  const certs = await readCertsDir(opts.certsDir ?? DEFAULT_CERTS_DIR, registry);
  const listed = (opts.insecureRegistries ?? []).some((r) => r === registry || r === host);
  const insecure = listed || ((opts.loopbackInsecure ?? true) && isLoopbackRegistry(registry));
  if (!insecure || certs.ca) {
    return { registry, baseUrl: `https://${host}`, fallbackUrls: [], tls: { ...certs, rejectUnauthorized: true } };
  }
  return {
    registry,
    baseUrl: `https://${host}`,
    fallbackUrls: [`http://${host}`],
    tls: { ...certs, rejectUnauthorized: false },
  };
}
