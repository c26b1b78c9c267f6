import { lstatSync, readlinkSync, type Stats } from 'node:fs';
import { posix } from 'node:path';
import { InvalidArgumentError } from '@berth/image-format';

const MAX_LINKS = 40;

/** A mount seen from the host: `source` appears at `destination` inside the root. */
export interface RootMount {
  destination: string;
  source: string;
}

export interface ResolveOptions {
  /** Follow a symlink in the last component too (default true; docker cp copies a link as itself). */
  followLast?: boolean;
  /**
   * A symlink on the way: 'follow' (default) with the root as `/`, so no link leads out of
   * it; 'refuse' throws UnsafePathError (a layer or a host directory: nothing is followed).
   */
  symlinks?: 'follow' | 'refuse';
  /** Mounts not in place under the root (a stopped container's volumes): paths below a destination are under its source. */
  mounts?: readonly RootMount[];
  /**
   * Where the entry at an in-root path is on the host, or undefined when there is none (a
   * merged view of layers, as the build's LayeredFs). Replaces the root/mounts mapping.
   */
  hostOf?: (path: string) => string | undefined;
}

/** Where an in-root path is: its host path, its resolved path inside the root, and what of it does not exist. */
export interface InRootPath {
  host: string;
  /** Absolute, clean, every link resolved (the last one only with followLast). */
  path: string;
  /** The trailing components that do not exist (empty when the whole path does): a caller may create them. */
  missing: string[];
  /** lstat of the resolved path when it exists. */
  stat?: Stats;
}

/** A path would need a symlink followed where the caller said never to, or is not what it must be. */
export class UnsafePathError extends InvalidArgumentError {}

/**
 * THE in-root resolver of Berth: every path that comes from an image, an archive or a
 * container and meets the host filesystem under a root goes through it. Resolves `path`
 * as if `root` were `/`: one component at a time with lstat, symlinks (absolute or
 * relative) followed inside the root or refused, `..` stopping at the root. Components
 * that do not exist are appended literally and listed in `missing`.
 *
 * It checks; it cannot lock: a process inside a running container may still swap a
 * directory for a link between this call and the write. The extractor creates what is
 * missing one component at a time and re-checks each.
 */
export function locateInRoot(root: string, path: string, opts: ResolveOptions = {}): InRootPath {
  const followLast = opts.followLast ?? true;
  const mounts = opts.mounts ?? [];
  const hostOf = opts.hostOf ?? ((p: string): string => hostPathIn(root, p, mounts));
  const pending = path.split('/').filter((c) => c !== '' && c !== '.');
  const done: string[] = [];
  let links = 0;
  let stat: Stats | undefined = undefined;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '..') {
      done.pop();
      stat = undefined;
      continue;
    }
    const inRoot = '/' + [...done, part].join('/');
    const host = hostOf(inRoot);
    let st: Stats | undefined;
    try {
      st = host === undefined ? undefined : lstatSync(host);
    } catch (err) {
      // ENOTDIR: a file on the way; the caller's create meets it and says so.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
    }
    if (!st) {
      // What follows a missing component is taken literally, `..` dropped: it cannot climb.
      const missing = [part, ...pending.filter((p) => p !== '..')];
      const full = [...done, ...missing];
      const base = hostOf('/' + done.join('/')) ?? posix.join(root, ...done);
      return { host: posix.join(base, ...missing), path: '/' + full.join('/'), missing };
    }
    if (st.isSymbolicLink() && (pending.length > 0 || followLast)) {
      if (opts.symlinks === 'refuse') throw new UnsafePathError(`parent "${inRoot.slice(1)}" is a symlink`);
      if (++links > MAX_LINKS) throw Object.assign(new UnsafePathError(`too many levels of symbolic links: ${path}`), { code: 'ELOOP' });
      const target = readlinkSync(host as string);
      if (target.startsWith('/')) done.length = 0;
      pending.unshift(...target.split('/').filter((c) => c !== '' && c !== '.'));
      continue;
    }
    if (pending.length > 0 && !st.isDirectory() && opts.symlinks === 'refuse') {
      throw new UnsafePathError(`parent "${inRoot.slice(1)}" is not a directory`);
    }
    done.push(part);
    stat = st;
  }
  const resolved = '/' + done.join('/');
  return { host: hostOf(resolved) ?? posix.join(root, ...done), path: resolved, missing: [], ...(stat ? { stat } : {}) };
}

/**
 * The host path of `path` inside `root` (see locateInRoot), for callers that only read or
 * create one path: a user database, a mount point, a working directory.
 */
export async function resolveInRoot(root: string, path: string, opts: ResolveOptions = {}): Promise<string> {
  return locateInRoot(root, path, opts).host;
}

/** The host path of an in-root path: under the deepest mount holding it, else under the root. */
export function hostPathIn(root: string, path: string, mounts: readonly RootMount[]): string {
  const m = mounts.length > 0 ? mountOf(path, mounts) : undefined;
  if (!m && path === '/') return root;
  return m ? posix.join(m.source, posix.relative(posix.normalize(m.destination), path)) : posix.join(root, path);
}

/** The deepest of `mounts` whose destination holds the in-root path `path`. */
export function mountOf<M extends { destination: string }>(path: string, mounts: readonly M[]): M | undefined {
  let best: M | undefined;
  let bestLen = -1;
  for (const m of mounts) {
    const d = posix.normalize(m.destination).replace(/\/+$/, '') || '/';
    const inside = d === '/' || path === d || path.startsWith(d + '/');
    if (inside && d.length > bestLen) {
      best = m;
      bestLen = d.length;
    }
  }
  return best;
}
