import { createHash, randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { MountSpec } from './run-mounts.js';

/**
 * The directories behind `RUN --mount=type=cache`: one per cache id, kept between builds under
 * the engine's root (not in any image, not part of any cache key). `sharing` as BuildKit:
 * shared — every concurrent user gets the same directory; locked — users take turns;
 * private — a user that finds it in use gets a fresh empty directory of its own.
 */
export class CacheMounts {
  private readonly inUse = new Map<string, number>();
  private readonly queues = new Map<string, Promise<void>>();

  constructor(private readonly root: string) {}

  /**
   * The directory for `spec`, created (with its mode and owner, then `init` filling it) the
   * first time; `release` ends this use.
   */
  async acquire(spec: MountSpec, init?: (dir: string) => Promise<void>): Promise<{ dir: string; release: () => Promise<void> }> {
    const key = createHash('sha256').update(spec.id).digest('hex');
    const dir = join(this.root, key);
    let unlock: (() => void) | undefined;
    if (spec.sharing === 'locked') {
      const before = this.queues.get(key) ?? Promise.resolve();
      const mine = new Promise<void>((r) => (unlock = r));
      const tail = before.then(() => mine);
      this.queues.set(key, tail);
      await before;
      void tail.then(() => {
        if (this.queues.get(key) === tail) this.queues.delete(key);
      });
    }
    if (spec.sharing === 'private' && (this.inUse.get(key) ?? 0) > 0) {
      const own = join(this.root, `private-${key}-${randomBytes(6).toString('hex')}`);
      await this.create(own, spec, init);
      return { dir: own, release: () => rm(own, { recursive: true, force: true }) };
    }
    this.inUse.set(key, (this.inUse.get(key) ?? 0) + 1);
    try {
      if (!(await stat(dir).catch(() => undefined))) await this.create(dir, spec, init);
    } catch (err) {
      this.done(key, unlock);
      throw err;
    }
    return { dir, release: async () => this.done(key, unlock) };
  }

  /** Forgets every cache mount (build cache prune). */
  async prune(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }

  private done(key: string, unlock: (() => void) | undefined): void {
    const n = (this.inUse.get(key) ?? 1) - 1;
    if (n <= 0) this.inUse.delete(key);
    else this.inUse.set(key, n);
    unlock?.();
  }

  private async create(dir: string, spec: MountSpec, init?: (dir: string) => Promise<void>): Promise<void> {
    // Made beside its final name, then renamed: a crash never leaves a half-filled cache.
    const tmp = `${dir}.new-${randomBytes(4).toString('hex')}`;
    await mkdir(tmp, { recursive: true });
    try {
      if (init) await init(tmp);
      await chmod(tmp, spec.mode ?? 0o755);
      await chown(tmp, spec.uid ?? 0, spec.gid ?? 0);
      await rename(tmp, dir);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }
}
