import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { ConflictError } from '@berth/image-format';

/**
 * One engine per root: `<root>/berth.lock` holds the owner's PID. A lock whose PID is gone
 * (the owner was killed) is stale and taken over, so a crash never wedges the root.
 */
export class RootLock {
  private constructor(private readonly path: string) {}

  static acquire(path: string): RootLock {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(path, 'wx', 0o600);
        writeSync(fd, String(process.pid));
        closeSync(fd);
        return new RootLock(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const owner = Number.parseInt(readOwner(path), 10);
        if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
          throw new ConflictError(`root is in use by another engine (pid ${owner}): ${path}`);
        }
        if (owner === process.pid) throw new ConflictError(`root is already open in this process: ${path}`);
        try {
          unlinkSync(path);
        } catch {
          // another opener took it over first; retry
        }
      }
    }
    throw new ConflictError(`could not take the root lock ${path}`);
  }

  release(): void {
    try {
      if (readOwner(this.path) === String(process.pid)) unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}

function readOwner(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
