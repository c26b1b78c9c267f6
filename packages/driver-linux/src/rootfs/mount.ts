import { mkdir, readFile, rm, symlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { BerthError } from '@berth/image-format';
import type { RootfsMount } from '@berth/runtime';
import { mountOverlayDirect, runOrThrow, umountDirect } from '../process/run-program.js';

const run = (file: string, args: string[], options: { cwd?: string } = {}): Promise<string> => runOrThrow(file, args, { ...options, timeoutMs: 60_000 });

const PATH_OPTIONS = ['lowerdir=', 'upperdir=', 'workdir='] as const;

/**
 * The kernel copies at most one page of mount data; leave room for what mount(8) and
 * the kernel append (and the terminating NUL).
 */
const MOUNT_DATA_LIMIT = 4096 - 96;

/** How mount(8) is to be called for one overlay: its options and the cwd they are relative to. */
interface OverlayPlan {
  options: string[];
  /** Run mount(8) here; relative paths in `options` resolve against it. */
  cwd?: string;
  /**
   * Short symlinks to create in `cwd` (name -> absolute target) before mounting and to
   * remove afterwards (overlayfs resolves them once, at mount time).
   */
  links?: Map<string, string>;
}

function pathKey(o: string): (typeof PATH_OPTIONS)[number] | undefined {
  return PATH_OPTIONS.find((k) => o.startsWith(k));
}

function dataLength(options: readonly string[]): number {
  return Buffer.byteLength(options.join(','));
}

/**
 * Plans an overlay mount whose data fits in one page. Absolute lowerdir chains do not
 * beyond ~30 layers, so paths are first made relative to their common directory (mount
 * runs there). When even that is too long (many layers with long names), the lower
 * directories are reached through symlinks named 0, 1, 2... in `linkDir`.
 */
export function planOverlay(options: readonly string[], linkDir: string): OverlayPlan {
  if (dataLength(options) <= MOUNT_DATA_LIMIT) return { options: [...options] };
  const paths: string[] = [];
  for (const o of options) {
    const k = pathKey(o);
    if (k) paths.push(...o.slice(k.length).split(':'));
  }
  if (paths.length > 0 && paths.every(isAbsolute)) {
    let common = dirname(paths[0] as string);
    while (!paths.every((p) => p.startsWith(common === sep ? sep : common + sep)) && common !== dirname(common)) common = dirname(common);
    const rel = options.map((o) => {
      const k = pathKey(o);
      return k ? k + o.slice(k.length).split(':').map((p) => relative(common, p)).join(':') : o;
    });
    if (dataLength(rel) <= MOUNT_DATA_LIMIT) return { options: rel, cwd: common };
  }
  const links = new Map<string, string>();
  let n = 0;
  const short = options.map((o) => {
    if (!o.startsWith('lowerdir=')) return o;
    const lowers = o.slice('lowerdir='.length).split(':');
    return `lowerdir=${lowers
      .map((p) => {
        const name = (n++).toString(36);
        links.set(name, isAbsolute(p) ? p : join(process.cwd(), p));
        return name;
      })
      .join(':')}`;
  });
  return { options: short, cwd: linkDir, links };
}

/**
 * Mounts a snapshotter's mount list on `target`, in order. `scratchDir` is a directory
 * the driver owns (the bundle); a deep overlay may need a short-lived subdirectory there.
 */
export async function mountRootfs(mounts: readonly RootfsMount[], target: string, scratchDir: string): Promise<void> {
  for (const m of mounts) {
    let options = [...(m.options ?? [])];
    let type = m.type;
    let cwd: string | undefined;
    let links: Map<string, string> | undefined;
    let linkDir: string | undefined;
    if (m.type === 'overlay') {
      linkDir = join(scratchDir, 'lower-links');
      ({ options, cwd, links } = planOverlay(options, linkDir));
    }
    let readonlyBind = false;
    if (m.type === 'bind' || m.type === 'rbind') {
      type = 'none';
      if (!options.includes('bind') && !options.includes('rbind')) options.unshift(m.type === 'rbind' ? 'rbind' : 'bind');
      // a bind mount ignores ro on the first call; it takes a remount
      readonlyBind = options.includes('ro');
      options = options.filter((o) => o !== 'ro');
    }
    try {
      if (links && linkDir) {
        await rm(linkDir, { recursive: true, force: true });
        await mkdir(linkDir, { mode: 0o700 });
        for (const [name, to] of links) await symlink(to, join(linkDir, name));
      }
      // an overlay whose options are all its own (key=value, no mount flags) needs no mount(8)
      const direct = type === 'overlay' && options.every((o) => /^(lowerdir|upperdir|workdir)=/.test(o)) && (await mountOverlayDirect(target, m.source, options.join(','), cwd));
      if (!direct) await run('mount', ['-t', type, ...(options.length ? ['-o', options.join(',')] : []), m.source, target], cwd ? { cwd } : {});
      if (readonlyBind) await run('mount', ['-o', 'remount,bind,ro', target]);
    } catch (err) {
      const detail = (err as { stderr?: string }).stderr?.trim() || (err as Error).message;
      throw new BerthError('Internal', `mounting the rootfs (${m.type}) on ${target} failed: ${detail}`, { cause: err });
    } finally {
      if (links && linkDir) await rm(linkDir, { recursive: true, force: true });
    }
  }
}

/** Unmounts every mount stacked on `target` (lazily when busy); nothing mounted is fine. */
export async function unmountRootfs(target: string): Promise<void> {
  // bounded: a snapshotter's list is a mount or two
  for (let i = 0; i < 16; i++) {
    // ask the kernel rather than spawning a umount that fails: that cost a process per removal
    if (i > 0 && !(await isMountPoint(target))) return;
    const direct = await umountDirect(target, false);
    if (direct !== undefined) {
      if (direct === '') continue;
      if (/invalid argument|no such file/i.test(direct)) return;
      const lazy = await umountDirect(target, true);
      if (lazy !== '') return;
      continue;
    }
    try {
      await run('umount', [target]);
    } catch (err) {
      const msg = String((err as { stderr?: string }).stderr ?? '');
      if (/not mounted|no mount point|not found|no such file/i.test(msg)) return;
      await run('umount', ['-l', target]).catch(() => undefined);
    }
  }
}

/** True when something is mounted at `target` (per /proc/self/mountinfo). */
export async function isMountPoint(target: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const want = resolve(target);
  for (const line of info.split('\n')) {
    // field 5 is the mount point, with spaces and such octal-escaped
    const mountPoint = line.split(' ')[4];
    if (mountPoint !== undefined && unescapeMountinfo(mountPoint) === want) return true;
  }
  return false;
}

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}
