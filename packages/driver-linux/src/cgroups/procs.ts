import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CgroupMounts } from './layout.js';

/**
 * Every process in the cgroup at `path` and below it. The cgroup, not the pid namespace,
 * says what is the container's: with `--pid host` its namespace is the host's.
 */
export async function cgroupPids(mounts: CgroupMounts, path: string): Promise<number[]> {
  // v1: any hierarchy the runtimes create the container's cgroup in will do
  const base = mounts.layout === 'v2' ? mounts.unified : (mounts.v1.get('pids') ?? mounts.v1.get('memory') ?? mounts.v1.get('cpu'));
  if (!base) return [];
  const out = new Set<number>();
  const walk = async (dir: string): Promise<void> => {
    const procs = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
    for (const line of procs.split('\n')) if (/^\d+$/.test(line)) out.add(Number(line));
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) if (e.isDirectory()) await walk(join(dir, e.name));
  };
  await walk(join(base, path));
  return [...out].sort((a, b) => a - b);
}
