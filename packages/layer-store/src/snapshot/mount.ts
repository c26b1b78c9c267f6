import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { BerthError } from '@berth/image-format';
import type { Mount } from './snapshotter.js';

const run = promisify(execFile);

const PATH_OPTIONS = ['lowerdir=', 'upperdir=', 'workdir='];

/**
 * Mounts `mounts` on `target`, in order. Overlay mount data must fit in one page; a
 * deep lowerdir chain of absolute paths does not (near 30 layers), so overlay paths are
 * given relative to their common directory and mount(8) runs with that as its cwd (the
 * kernel resolves relative paths against the caller's cwd).
 */
export async function mountAll(mounts: readonly Mount[], target: string): Promise<void> {
  for (const m of mounts) {
    let options = m.options;
    let cwd: string | undefined;
    if (m.type === 'overlay') ({ options, cwd } = relativeOverlayOptions(m.options));
    const args = ['-t', m.type === 'bind' ? 'none' : m.type];
    if (m.type === 'bind') options = options.includes('rbind') ? options : ['bind', ...options];
    const readonly = m.type === 'bind' && options.includes('ro');
    args.push('-o', options.filter((o) => !(m.type === 'bind' && o === 'ro')).join(','), m.source, target);
    try {
      await run('mount', args, cwd ? { cwd } : {});
      if (readonly) await run('mount', ['-o', 'remount,bind,ro', target]);
    } catch (err) {
      throw new BerthError('Internal', `mount ${m.type} on ${target} failed: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`, { cause: err });
    }
  }
}

export function relativeOverlayOptions(options: readonly string[]): { options: string[]; cwd?: string } {
  const paths: string[] = [];
  for (const o of options) {
    const p = PATH_OPTIONS.find((k) => o.startsWith(k));
    if (p) paths.push(...o.slice(p.length).split(':'));
  }
  if (paths.length === 0 || !paths.every(isAbsolute)) return { options: [...options] };
  let common = dirname(paths[0]!);
  while (!paths.every((p) => p.startsWith(common + sep)) && common !== dirname(common)) common = dirname(common);
  const rel = (p: string) => relative(common, p);
  return {
    cwd: common,
    options: options.map((o) => {
      const k = PATH_OPTIONS.find((key) => o.startsWith(key));
      return k ? k + o.slice(k.length).split(':').map(rel).join(':') : o;
    }),
  };
}

/** Unmounts `target` (lazily if busy); a target that is not mounted is fine. */
export async function unmount(target: string): Promise<void> {
  try {
    await run('umount', [target]);
  } catch (err) {
    const msg = String((err as { stderr?: string }).stderr ?? '');
    if (/not mounted|no mount point|not found/i.test(msg)) return;
    await run('umount', ['-l', target]).catch((e2) => {
      throw new BerthError('Internal', `umount ${target} failed: ${String((e2 as { stderr?: string }).stderr ?? e2).trim()}`);
    });
  }
}

export interface MountInfo {
  mountPoint: string;
  root: string;
  fsType: string;
  source: string;
  superOptions: string;
}

/** The mount table of this process's mount namespace. */
export async function readMountInfo(): Promise<MountInfo[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const out: MountInfo[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const l = left.split(' ');
    const r = right.split(' ');
    out.push({
      root: unescapeMount(l[3] ?? ''),
      mountPoint: unescapeMount(l[4] ?? ''),
      fsType: r[0] ?? '',
      source: unescapeMount(r[1] ?? ''),
      superOptions: r[2] ?? '',
    });
  }
  return out;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}
