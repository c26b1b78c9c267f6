import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError } from '@berth/image-format';

/**
 * A directory of JSON records, one file per key, each replaced atomically (write to a
 * temporary name, then rename) so a crash leaves the old or the new record.
 * With `cached`, the records are read from disk once and then kept in memory (written
 * through): for an owner that is the directory's only writer, so that listing every
 * record (each attach does) costs no file reads. Callers get copies either way.
 * A record is read and written synchronously: a few KB in the page cache take
 * microseconds, where fs.promises' steps are each a trip through the thread pool (an
 * attach writes its record after every plugin).
 */
export class JsonRecordDir<T> {
  private memory: Map<string, T> | undefined;

  private dirMade = false;

  constructor(
    readonly dir: string,
    private readonly options: { cached?: boolean } = {},
  ) {}

  private async loaded(): Promise<Map<string, T> | undefined> {
    if (!this.options.cached) return undefined;
    if (!this.memory) {
      const m = new Map<string, T>();
      for (const k of await this.diskKeys()) {
        const v = await this.read(k);
        if (v !== undefined) m.set(k, v);
      }
      this.memory ??= m;
    }
    return this.memory;
  }

  private file(key: string): string {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(key)) throw new BerthError('InvalidArgument', `invalid record key ${JSON.stringify(key)}`);
    return join(this.dir, `${key}.json`);
  }

  async get(key: string): Promise<T | undefined> {
    const file = this.file(key);
    const memory = await this.loaded();
    if (memory) {
      const v = memory.get(key);
      return v === undefined ? undefined : structuredClone(v);
    }
    return this.read(key, file);
  }

  private async read(key: string, file = this.file(key)): Promise<T | undefined> {
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as T;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async put(key: string, value: T): Promise<void> {
    const tmp = join(this.dir, `.${key}.${randomBytes(4).toString('hex')}.tmp`);
    const text = JSON.stringify(value, null, 2) + '\n';
    if (!this.dirMade) mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    try {
      writeFileSync(tmp, text, { mode: 0o600 });
    } catch (e) {
      // the directory went meanwhile (a cleanup): make it again
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      writeFileSync(tmp, text, { mode: 0o600 });
    }
    this.dirMade = true;
    renameSync(tmp, this.file(key));
    this.memory?.set(key, structuredClone(value));
  }

  async delete(key: string): Promise<void> {
    await unlink(this.file(key)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
    this.memory?.delete(key);
  }

  async keys(): Promise<string[]> {
    const memory = await this.loaded();
    if (memory) return [...memory.keys()].sort();
    return this.diskKeys();
  }

  private async diskKeys(): Promise<string[]> {
    try {
      const names = await readdir(this.dir);
      return names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).map((n) => n.slice(0, -5)).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  async values(): Promise<T[]> {
    const memory = await this.loaded();
    if (memory) return [...memory.keys()].sort().map((k) => structuredClone(memory.get(k) as T));
    const out: T[] = [];
    for (const k of await this.keys()) {
      const v = await this.get(k);
      if (v !== undefined) out.push(v);
    }
    return out;
  }
}
