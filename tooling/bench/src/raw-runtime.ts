import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildBusyboxRootfs } from '@berth/fixtures';
import { run } from './proc.js';

export interface RawBundle {
  dir: string;
  /** argv that runs the bundle once with `runtime` (a fresh id each call). */
  command(runtime: 'crun' | 'runc'): { cmd: string; args: string[] };
  /** How crun is adapted to this host's cgroups, for the report. */
  note: string;
}

/**
 * A bundle equivalent to `run --rm busybox true`: the fixtures' busybox rootfs, the
 * runtime's default spec (own pid/net/ipc/uts/mount namespaces), args `/bin/true`.
 * crun 1.8 refuses hybrid cgroups; there it runs in a private mount namespace with the
 * cgroup2 mount removed, as driver-linux does (costs a few ms of unshare + sh).
 */
export async function makeRawBundle(dir: string): Promise<RawBundle> {
  await buildBusyboxRootfs(join(dir, 'rootfs'));
  await run('crun', ['spec'], { cwd: dir });
  const spec = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as {
    process: { terminal: boolean; args: string[] };
    root: { path: string };
    linux?: { cgroupsPath?: string };
  };
  spec.process.terminal = false;
  spec.process.args = ['/bin/true'];
  spec.root.path = join(dir, 'rootfs');
  await writeFile(join(dir, 'config.json'), JSON.stringify(spec));
  const hybrid = existsSync('/sys/fs/cgroup/memory') && (await isCgroup2Mount('/sys/fs/cgroup/unified'));
  const stateRoot = join(dir, 'state');
  return {
    dir,
    note: hybrid ? 'crun in a private mount ns without the hybrid cgroup2 mount (unshare + sh, as driver-linux)' : 'crun as is',
    command(runtime) {
      const id = `rawbench-${randomBytes(4).toString('hex')}`;
      const base = [runtime, '--root', join(stateRoot, runtime), 'run', '--bundle', dir, id];
      if (runtime === 'crun' && hybrid) {
        return { cmd: 'unshare', args: ['-m', '--propagation', 'private', '/bin/sh', '-c', 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$0" "$@"', ...base] };
      }
      return { cmd: base[0]!, args: base.slice(1) };
    },
  };
}

async function isCgroup2Mount(path: string): Promise<boolean> {
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  return mounts.split('\n').some((l) => {
    const f = l.split(' ');
    return f[1] === path && f[2] === 'cgroup2';
  });
}
