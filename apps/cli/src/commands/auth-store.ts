// Registry credentials the CLI keeps, in docker's config.json shape
// (`{"auths": {"<registry>": {"auth": base64("user:password")}}}`), mode 0600.
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { AuthConfig } from '@berth/engine-api';

/** Docker's key for Docker Hub. */
const INDEX_SERVER = 'https://index.docker.io/v1/';

interface ConfigFile {
  auths?: Record<string, { auth?: string; identitytoken?: string }>;
  [key: string]: unknown;
}

/** `$BERTH_CONFIG/config.json`, else `~/.berth/config.json`. */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env['BERTH_CONFIG'] || join(homedir(), '.berth'), 'config.json');
}

async function readConfig(): Promise<ConfigFile> {
  try {
    return JSON.parse(await readFile(configPath(), 'utf8')) as ConfigFile;
  } catch {
    return {};
  }
}

async function writeConfig(cfg: ConfigFile): Promise<void> {
  const path = configPath();
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(cfg, null, '\t')}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

/** The key a registry is stored under (`docker.io` is Docker's index URL). */
export function serverKey(server: string | undefined): string {
  if (!server || server === 'docker.io' || server === 'index.docker.io' || server === 'registry-1.docker.io') return INDEX_SERVER;
  return server.replace(/^https?:\/\//, '').replace(/\/+$/, '');
}

/** Stored credentials for a registry domain, if any. */
export async function authFor(domain: string): Promise<AuthConfig | undefined> {
  const key = serverKey(domain);
  const entry = (await readConfig()).auths?.[key];
  if (!entry) return undefined;
  if (entry.identitytoken) return { identitytoken: entry.identitytoken, serveraddress: key };
  if (!entry.auth) return undefined;
  const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  return { username: decoded.slice(0, i), password: decoded.slice(i + 1), serveraddress: key };
}

/** Every stored login by its key (what `build` sends as X-Registry-Config, as docker does). */
export async function allAuths(): Promise<Record<string, AuthConfig>> {
  const out: Record<string, AuthConfig> = {};
  for (const [key, entry] of Object.entries((await readConfig()).auths ?? {})) {
    if (entry.identitytoken) out[key] = { identitytoken: entry.identitytoken, serveraddress: key };
    else if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      out[key] = { username: decoded.slice(0, i), password: decoded.slice(i + 1), serveraddress: key };
    }
  }
  return out;
}

export async function storeAuth(server: string, username: string, password: string, identityToken?: string): Promise<void> {
  const cfg = await readConfig();
  cfg.auths ??= {};
  cfg.auths[serverKey(server)] = identityToken
    ? { auth: Buffer.from(`${username}:`).toString('base64'), identitytoken: identityToken }
    : { auth: Buffer.from(`${username}:${password}`).toString('base64') };
  await writeConfig(cfg);
}

/** Removes stored credentials; false when there were none. */
export async function removeAuth(server: string): Promise<boolean> {
  const cfg = await readConfig();
  const key = serverKey(server);
  if (!cfg.auths?.[key]) return false;
  delete cfg.auths[key];
  await writeConfig(cfg);
  return true;
}
