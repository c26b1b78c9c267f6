import { BerthError, InvalidArgumentError, UnauthorizedError } from '@berth/image-format';
import { RegistryClient } from '@berth/registry-client';
import type { AuthConfig, AuthResponse } from '@berth/engine-api';

const DEFAULT_INDEX = 'https://index.docker.io/v1/';

/** Hosts reached over plain http: loopback always (as Docker), plus daemon.json insecure-registries. */
function schemeOf(host: string, insecure: string[]): string {
  const name = host.replace(/:\d+$/, '');
  const plain = name === 'localhost' || /^127\./.test(name) || name === '[::1]' || insecure.includes(host) || insecure.includes(name);
  return plain ? 'http' : 'https';
}

function credentialsOf(config: AuthConfig): { username: string; password: string } {
  if (config.username || !config.auth) return { username: config.username ?? '', password: config.password ?? '' };
  const [u, ...p] = Buffer.from(config.auth, 'base64').toString('utf8').split(':');
  return { username: u ?? '', password: p.join(':') };
}

/**
 * POST /auth: checks credentials against the registry's `/v2/` as Docker does (Basic
 * directly, or a Bearer token fetched with them) through the registry client every pull
 * uses, and answers "Login Succeeded" with the token service's identity token if any.
 */
export async function registryLogin(config: AuthConfig, insecure: string[]): Promise<AuthResponse> {
  const server = (config.serveraddress || DEFAULT_INDEX).replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  if (server === '') throw new InvalidArgumentError('serveraddress is required');
  const endpoint = `${schemeOf(server, insecure)}://${server}/v2/`;
  const registry = server === 'index.docker.io' ? 'docker.io' : server;
  const client = new RegistryClient({ insecureRegistries: insecure, retry: { attempts: 1 } });
  try {
    const { identityToken } = await client.login(registry, credentialsOf(config));
    return identityToken ? { Status: 'Login Succeeded', IdentityToken: identityToken } : { Status: 'Login Succeeded' };
  } catch (err) {
    // dockerd's wording, which the docker CLI prints as is.
    if (err instanceof UnauthorizedError) {
      throw new UnauthorizedError(`login attempt to ${endpoint} failed with status: 401 Unauthorized`, { cause: err });
    }
    if (err instanceof BerthError && err.code !== 'Unavailable') throw err;
    throw new BerthError('Unavailable', `login attempt to ${endpoint} failed: ${(err as Error).message}`, { cause: err });
  } finally {
    await client.close();
  }
}
