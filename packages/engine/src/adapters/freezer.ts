import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, UnsupportedError } from '@berth/image-format';

/**
 * Freezes or thaws the cgroup a process runs in — how `docker pause` works — found from
 * /proc/<pid>/cgroup: the v1 freezer controller when mounted, else cgroup v2's cgroup.freeze.
 */
export async function setFrozen(pid: number, frozen: boolean, cgroupRoot = '/sys/fs/cgroup'): Promise<void> {
  const lines = (await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => '')).split('\n');
  const v1 = lines.map((l) => l.split(':')).find((p) => p[1]?.split(',').includes('freezer'));
  if (v1 && v1[2]) {
    const dir = join(cgroupRoot, 'freezer', v1[2]);
    await writeFile(join(dir, 'freezer.state'), frozen ? 'FROZEN' : 'THAWED');
    const want = frozen ? 'FROZEN' : 'THAWED';
    for (let i = 0; i < 100; i++) {
      if ((await readFile(join(dir, 'freezer.state'), 'utf8')).trim() === want) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new BerthError('Internal', `cgroup ${v1[2]} did not become ${want}`);
  }
  const v2 = lines.find((l) => l.startsWith('0::'));
  if (v2) {
    const rel = v2.slice(3);
    for (const base of [cgroupRoot, join(cgroupRoot, 'unified')]) {
      const file = join(base, rel, 'cgroup.freeze');
      try {
        await writeFile(file, frozen ? '1' : '0');
        for (let i = 0; i < 100; i++) {
          const events = await readFile(join(base, rel, 'cgroup.events'), 'utf8').catch(() => '');
          if (events.includes(`frozen ${frozen ? 1 : 0}`)) return;
          await new Promise((r) => setTimeout(r, 10));
        }
        return;
      } catch {
        // try the next mount point
      }
    }
  }
  throw new UnsupportedError(`no freezer cgroup found for pid ${pid}`);
}
