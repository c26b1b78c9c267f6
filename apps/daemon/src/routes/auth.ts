import { BerthError, InvalidArgumentError, UnauthorizedError } from '@berth/image-format';
import type { AuthConfig, AuthResponse } from '@berth/engine-api';

const DEFAULT_INDEX = 'https://index.docker.io/v1/';
const TIMEOUT_MS = 15_000;

/** Hosts reached over plain http: loopback always (as Docker), plus daemon.json insecure-registries. */
function isInsecure(host: string, insecure: string[]): boolean {
  const name = host.replace(/:\d+$/, '');
  return name === 'localhost' || /^127\./.test(name) || name === '[::1]' || insecure.includes(host) || insecure.includes(name);
}

/**
 * POST /auth: checks credentials against the registry's `/v2/` as Docker does (Basic
 * directly, or a Bearer token fetched with them) and answers "Login Succeeded".
 */
export async function registryLogin(config: AuthConfig, insecure: string[]): Promise<AuthResponse> {
  let username = config.username ?? '';
  let password = config.password ?? '';
  if (!username && config.auth) {
    const [u, ...p] = Buffer.from(config.auth, 'base64').toString('utf8').split(':');
    username = u ?? '';
    password = p.join(':');
  }
  const server = (config.serveraddress || DEFAULT_INDEX).replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  if (server === '') throw new InvalidArgumentError('serveraddress is required');
  const base = `${isInsecure(server, insecure) ? 'http' : 'https'}://${server}`;
  const basic = 'Basic ' + Buffer.from(`${username}:${password}`).toString('base64');
  const endpoint = `${base}/v2/`;
  const first = await get(endpoint, {});
  if (first.status === 200) return { Status: 'Login Succeeded' };
  if (first.status !== 401) throw new BerthError('Internal', `login attempt to ${endpoint} failed with status: ${first.status} ${first.statusText}`);
  const challenge = first.headers.get('www-authenticate') ?? '';
  if (/^basic/i.test(challenge)) {
    const second = await get(endpoint, { authorization: basic });
    if (second.status === 200) return { Status: 'Login Succeeded' };
    throw new UnauthorizedError(`login attempt to ${endpoint} failed with status: ${second.status} ${second.statusText}`);
  }
  const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1] as string, m[2] as string]));
  if (!/^bearer/i.test(challenge) || !params['realm']) {
    throw new UnauthorizedError(`login attempt to ${endpoint} failed: unsupported challenge ${JSON.stringify(challenge)}`);
  }
  const url = new URL(params['realm']);
  if (params['service']) url.searchParams.set('service', params['service']);
  url.searchParams.set('offline_token', 'true');
  url.searchParams.set('client_id', 'berth');
  const token = await get(url.toString(), { authorization: basic });
  if (token.status !== 200) {
    throw new UnauthorizedError(`login attempt to ${endpoint} failed with status: ${token.status} ${token.statusText}`);
  }
  const body = (await token.json().catch(() => ({}))) as { refresh_token?: string };
  return body.refresh_token ? { Status: 'Login Succeeded', IdentityToken: body.refresh_token } : { Status: 'Login Succeeded' };
}

async function get(url: string, headers: Record<string, string>): Promise<Response> {
  try {
    return await fetch(url, { headers, signal: AbortSignal.timeout(TIMEOUT_MS), redirect: 'follow' });
  } catch (err) {
    throw new BerthError('Unavailable', `login attempt to ${url} failed: ${(err as Error).message}`, { cause: err });
  }
}
