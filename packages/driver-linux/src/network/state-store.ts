import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError } from '@berth/image-format';

/**
 * A directory of JSON records, one file per key, each replaced atomically (write to a
 * temporary name, then rename) so a crash leaves the old or the new record.
 */
export class JsonRecordDir<T> {
  constructor(readonly dir: string) {}

  private file(key: string): string {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(key)) throw new BerthError('InvalidArgument', `invalid record key ${JSON.stringify(key)}`);
    return join(this.dir, `${key}.json`);
  }

  async get(key: string): Promise<T | undefined> {
    try {
      return JSON.parse(await readFile(this.file(key), 'utf8')) as T;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async put(key: string, value: T): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = join(this.dir, `.${key}.${randomBytes(4).toString('hex')}.tmp`);
    await writeFile(tmp, JSON.stringify(value, null, 2) + '\n', { mode: 0o600 });
    await rename(tmp, this.file(key));
  }

  async delete(key: string): Promise<void> {
    await unlink(this.file(key)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
  }

  async keys(): Promise<string[]> {
    try {
      const names = await readdir(this.dir);
      return names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).map((n) => n.slice(0, -5)).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  async values(): Promise<T[]> {
    const out: T[] = [];
    for (const k of await this.keys()) {
      const v = await this.get(k);
      if (v !== undefined) out.push(v);
    }
    return out;
  }
}
