import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RootLock } from './lock.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('RootLock', () => {
  it('allows one holder per root and takes over a dead holder\'s lock', async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-lock-'));
    const path = join(dir, 'berth.lock');
    const lock = RootLock.acquire(path);
    expect(await readFile(path, 'utf8')).toBe(String(process.pid));
    expect(() => RootLock.acquire(path)).toThrow(/already open in this process/);
    lock.release();
    // A PID that no longer exists: the lock is stale.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    await writeFile(path, dead);
    const again = RootLock.acquire(path);
    expect(await readFile(path, 'utf8')).toBe(String(process.pid));
    again.release();
    // A live other process holds it: Conflict.
    await writeFile(path, '1');
    expect(() => RootLock.acquire(path)).toThrow(/in use by another engine \(pid 1\)/);
  });
});
