import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { BerthError } from '@berth/image-format';
import { helperGet, type HelperOptions } from './helper.js';
import { decodeAuth, registryKeys, type CredentialStore, type Credentials } from './store.js';

interface DockerAuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
}
interface DockerConfigFile {
  auths?: Record<string, DockerAuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

/** `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function defaultDockerConfigPath(): string {
  const dir = process.env['DOCKER_CONFIG'] ?? join(homedir(), '.docker');
  return join(dir, 'config.json');
}

/**
 * Reads Docker's client config: `credHelpers[registry]` first, then `credsStore`, then
 * the inline `auths` entry (base64 `auth`, or username/password, identitytoken). The file
 * is re-read on each lookup so a `docker login` meanwhile is seen.
 */
export class DockerConfigCredentialStore implements CredentialStore {
  constructor(
    private readonly path: string = defaultDockerConfigPath(),
    private readonly helperOpts: HelperOptions = {},
  ) {}

  private async load(): Promise<DockerConfigFile | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    try {
      return JSON.parse(text) as DockerConfigFile;
    } catch {
      throw new BerthError('InvalidArgument', `${this.path}: invalid JSON`);
    }
  }

  async get(registry: string): Promise<Credentials | undefined> {
    const cfg = await this.load();
    if (!cfg) return undefined;
    const keys = registryKeys(registry);
    for (const k of keys) {
      const helper = cfg.credHelpers?.[k];
      if (helper) return helperGet(helper, keys[0]!, this.helperOpts);
    }
    if (cfg.credsStore) {
      const c = await helperGet(cfg.credsStore, keys[0]!, this.helperOpts);
      if (c) return c;
    }
    for (const k of keys) {
      const e = cfg.auths?.[k];
      if (!e) continue;
      const c = entryToCredentials(e);
      if (c) return c;
    }
    return undefined;
  }
}

function entryToCredentials(e: DockerAuthEntry): Credentials | undefined {
  const c: Credentials = {};
  if (e.auth) {
    const d = decodeAuth(e.auth);
    if (d) Object.assign(c, d);
  }
  if (e.username) c.username = e.username;
  if (e.password) c.password = e.password;
  if (e.identitytoken) c.identityToken = e.identitytoken;
  if (e.registrytoken) c.registryToken = e.registrytoken;
  return Object.keys(c).length ? c : undefined;
}
