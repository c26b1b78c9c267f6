import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, UnsupportedError } from '@berth/image-format';
import type { CgroupMounts } from './layout.js';

/**
 * The freezer of a container's cgroup: the v1 freezer controller where one is mounted
 * (v1 and hybrid hosts; the runtimes put containers there), else cgroup v2's
 * cgroup.freeze. Both runtimes read their paused state from these same files.
 */
function freezerOf(mounts: CgroupMounts, path: string): { kind: 'v1' | 'v2'; dir: string } {
  const v1 = mounts.v1.get('freezer');
  if (v1) return { kind: 'v1', dir: join(v1, path) };
  if (mounts.layout === 'v2' && mounts.unified) return { kind: 'v2', dir: join(mounts.unified, path) };
  throw new UnsupportedError('no freezer cgroup on this host (neither the v1 freezer nor cgroup v2)');
}

/**
 * v1 reports FREEZING on the way; v2's cgroup.events says `frozen 0` until done. Read
 * synchronously: a cgroup file answers at once, and every state() asks.
 */
async function freezerState(f: { kind: 'v1' | 'v2'; dir: string }): Promise<'frozen' | 'thawed' | 'freezing'> {
  if (f.kind === 'v1') {
    const st = readFileSync(join(f.dir, 'freezer.state'), 'utf8').trim();
    return st === 'FROZEN' ? 'frozen' : st === 'THAWED' ? 'thawed' : 'freezing';
  }
  return /^frozen 1$/m.test(readFileSync(join(f.dir, 'cgroup.events'), 'utf8')) ? 'frozen' : 'thawed';
}

/** Whether the cgroup at `path` is frozen (false when it does not exist). */
export async function isFrozen(mounts: CgroupMounts, path: string): Promise<boolean> {
  try {
    return (await freezerState(freezerOf(mounts, path))) === 'frozen';
  } catch {
    return false;
  }
}

/**
 * Freezes or thaws every process of the cgroup at `path` and waits until the kernel
 * reports it done. A v1 freezer can linger in FREEZING (a task in uninterruptible sleep,
 * or one caught between the runtime's init and its exec right after a start): the
 * request is repeated, and every few tries the cgroup is thawed first, as runc does, for
 * up to `timeoutMs`. A freeze that does not finish leaves the cgroup thawed, never stuck
 * half-frozen (where not even SIGKILL gets through).
 */
export async function setFrozen(mounts: CgroupMounts, path: string, frozen: boolean, timeoutMs = 5000): Promise<void> {
  const f = freezerOf(mounts, path);
  const deadline = Date.now() + timeoutMs;
  const request = (freeze: boolean): Promise<void> =>
    f.kind === 'v1' ? writeFile(join(f.dir, 'freezer.state'), freeze ? 'FROZEN' : 'THAWED') : writeFile(join(f.dir, 'cgroup.freeze'), freeze ? '1' : '0');
  for (let attempt = 1, delay = 1; ; attempt++, delay = Math.min(delay * 2, 50)) {
    await request(frozen);
    const state = await freezerState(f);
    if (state === (frozen ? 'frozen' : 'thawed')) return;
    if (Date.now() > deadline) break;
    if (frozen && state === 'freezing' && attempt % 4 === 0) await request(false);
    await new Promise((r) => setTimeout(r, delay));
  }
  if (frozen) await request(false).catch(() => undefined);
  throw new BerthError('Internal', `cgroup ${path} did not become ${frozen ? 'frozen' : 'thawed'} within ${timeoutMs} ms`);
}
