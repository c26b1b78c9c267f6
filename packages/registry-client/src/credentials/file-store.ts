import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BerthError } from '@berth/image-format';
import { decodeAuth, encodeAuth, type Credentials, type WritableCredentialStore } from './store.js';

interface FileFormat {
  auths: Record<string, { auth?: string; identitytoken?: string; registrytoken?: string }>;
}

/**
 * Berth's own login store: a JSON file in Docker's `auths` shape, created with mode 0600
 * and replaced atomically (write to a 0600 temp file, fsync, rename).
 */
export class FileCredentialStore implements WritableCredentialStore {
  constructor(readonly path: string) {}

  private async load(): Promise<FileFormat> {
    try {
      const parsed = JSON.parse(await readFile(this.path, 'utf8')) as Partial<FileFormat>;
      return { auths: parsed.auths ?? {} };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { auths: {} };
      if (e instanceof SyntaxError) throw new BerthError('InvalidArgument', `${this.path}: invalid JSON`);
      throw e;
    }
  }

  private async save(data: FileFormat): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.${randomBytes(6).toString('hex')}.tmp`;
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(JSON.stringify(data, null, 2) + '\n');
      await fh.chmod(0o600); // umask cannot widen it, but a restrictive one is fine too
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, this.path);
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw e;
    }
  }

  async get(registry: string): Promise<Credentials | undefined> {
    const e = (await this.load()).auths[registry];
    if (!e) return undefined;
    const c: Credentials = {};
    if (e.auth) Object.assign(c, decodeAuth(e.auth) ?? {});
    if (e.identitytoken) c.identityToken = e.identitytoken;
    if (e.registrytoken) c.registryToken = e.registrytoken;
    return Object.keys(c).length ? c : undefined;
  }

  async set(registry: string, creds: Credentials): Promise<void> {
    const data = await this.load();
    const e: FileFormat['auths'][string] = {};
    if (creds.username !== undefined) e.auth = encodeAuth(creds.username, creds.password ?? '');
    if (creds.identityToken) e.identitytoken = creds.identityToken;
    if (creds.registryToken) e.registrytoken = creds.registryToken;
    data.auths[registry] = e;
    await this.save(data);
  }

  async erase(registry: string): Promise<void> {
    const data = await this.load();
    if (!(registry in data.auths)) return;
    delete data.auths[registry];
    await this.save(data);
  }
}
