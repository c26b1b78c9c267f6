import { readFile } from 'node:fs/promises';

/**
 * v1: one hierarchy per controller under /sys/fs/cgroup; hybrid: v1 plus an (empty)
 * cgroup2 tree at /sys/fs/cgroup/unified; v2: the unified hierarchy at /sys/fs/cgroup.
 */
export type CgroupLayout = 'v1' | 'hybrid' | 'v2';

export interface CgroupMounts {
  layout: CgroupLayout;
  /** v1 controller (or `name=x` hierarchy) -> mount point (e.g. memory -> /sys/fs/cgroup/memory). */
  v1: Map<string, string>;
  /** cgroup2 mount point, if any. */
  unified?: string;
}

/** Reads /proc/self/mountinfo to find the cgroup mounts. */
export async function detectCgroups(mountinfo = '/proc/self/mountinfo'): Promise<CgroupMounts> {
  const text = await readFile(mountinfo, 'utf8');
  const v1 = new Map<string, string>();
  let unified: string | undefined;
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const mountPoint = (left[4] ?? '').replace(/\\040/g, ' ');
    const fstype = right[0];
    if (fstype === 'cgroup2') {
      if (unified === undefined || mountPoint === '/sys/fs/cgroup') unified = mountPoint;
    } else if (fstype === 'cgroup') {
      const opts = (right[2] ?? '').split(',');
      for (const o of opts) {
        if (['rw', 'ro', 'relatime', 'nosuid', 'nodev', 'noexec', 'xattr'].includes(o)) continue;
        // named hierarchies (name=systemd) hold no controller but runtimes create cgroups there too
        if (o.includes('=') && !o.startsWith('name=')) continue;
        if (!v1.has(o)) v1.set(o, mountPoint);
      }
    }
  }
  const layout: CgroupLayout = v1.size === 0 ? 'v2' : unified !== undefined ? 'hybrid' : 'v1';
  const out: CgroupMounts = { layout, v1 };
  if (unified !== undefined) out.unified = unified;
  return out;
}

/**
 * The directories a process joins to be in cgroup `path`: each v1 hierarchy's (hybrid
 * hosts too, as the runtimes use them there), else the unified one's. cpuset is left out:
 * a new v1 cpuset has no CPUs until they are copied in, and a process that only holds
 * namespaces needs none (the parents the runtime made and the container's own stay its).
 */
export function processCgroupDirs(mounts: CgroupMounts, path: string): string[] {
  const roots = mounts.v1.size > 0
    ? [...new Set([...mounts.v1].filter(([controller]) => controller !== 'cpuset').map(([, mountPoint]) => mountPoint))]
    : mounts.unified ? [mounts.unified] : [];
  return roots.map((m) => `${m}${path}`);
}

/**
 * Removes the cgroup `path` from every hierarchy. Processes of a killed container can
 * take a moment to leave (EBUSY); retried for up to `timeoutMs`. What is still in it
 * then is killed, as the runtime's delete does: a container that shares the pod's PID
 * namespace leaves its orphans there (they outlive its init, handed to the pod's PID 1).
 */
export async function removeCgroup(mounts: CgroupMounts, path: string, timeoutMs = 2000): Promise<void> {
  const { rmdir } = await import('node:fs/promises');
  const dirs = [...new Set([...mounts.v1.values(), ...(mounts.unified ? [mounts.unified] : [])])].map((m) => `${m}${path}`);
  const deadline = Date.now() + timeoutMs;
  // one rmdir per hierarchy, all at once: most are already gone (the runtime removed them)
  await Promise.all(dirs.map(async (dir) => {
    for (;;) {
      try {
        await rmdir(dir);
        break;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') break;
        if (code !== 'EBUSY' || Date.now() > deadline) break;
        await killCgroupProcs(dir);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }));
}

async function killCgroupProcs(dir: string): Promise<void> {
  const procs = await readFile(`${dir}/cgroup.procs`, 'utf8').catch(() => '');
  for (const pid of procs.split('\n').map(Number).filter((n) => n > 0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}
