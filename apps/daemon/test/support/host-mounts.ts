import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Host mounts a test makes under a temp dir of its own, always undone: `cleanup()` unmounts
 * everything below the dir (the test's and whatever propagated there), deepest first.
 */
export class HostMounts {
  private constructor(readonly dir: string) {}

  static async create(prefix: string): Promise<HostMounts> {
    return new HostMounts(await mkdtemp(join(tmpdir(), prefix)));
  }

  async mount(args: string[]): Promise<void> {
    await run('mount', args);
  }

  /** `path` (made) bind-mounted on itself with the propagation given: its own mount, whatever the host's / is. */
  async selfBind(path: string, propagation: 'rshared' | 'rprivate'): Promise<string> {
    await mkdir(path, { recursive: true });
    await this.mount(['--bind', path, path]);
    await this.mount([`--make-${propagation}`, path]);
    return path;
  }

  async tmpfs(path: string): Promise<void> {
    await mkdir(path, { recursive: true });
    await this.mount(['-t', 'tmpfs', 'tmpfs', path]);
  }

  /** Whether `path` is a mount point in this process's namespace. */
  static async isMountPoint(path: string): Promise<boolean> {
    const info = await readFile('/proc/self/mountinfo', 'utf8');
    return info.split('\n').some((l) => l.split(' ')[4] === path);
  }

  async cleanup(): Promise<void> {
    for (let round = 0; round < 5; round++) {
      const info = await readFile('/proc/self/mountinfo', 'utf8');
      const under = info
        .split('\n')
        .map((l) => l.split(' ')[4] ?? '')
        .filter((p) => p === this.dir || p.startsWith(`${this.dir}/`))
        .sort((a, b) => b.length - a.length);
      if (under.length === 0) break;
      for (const p of under) await run('umount', ['-l', p]).catch(() => undefined);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
