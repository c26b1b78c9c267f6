// Mount propagation of bind sources: what the host's mount table says about them, and the
// checks dockerd and containerd make before a bind may be rshared or rslave.
import { readFile, realpath } from 'node:fs/promises';
import { BerthError } from '@berth/image-format';
import type { MountSpec } from '@berth/runtime';

export interface MountInfoEntry {
  id: number;
  parent: number;
  mountPoint: string;
  /** The optional fields: `shared:N`, `master:N`, `propagate_from:N`, `unbindable`. */
  tags: string[];
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));

export function parseMountInfo(text: string): MountInfoEntry[] {
  const out: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const f = line.slice(0, sep).split(' ');
    out.push({ id: Number(f[0]), parent: Number(f[1]), mountPoint: unescape(f[4] ?? ''), tags: f.slice(6) });
  }
  return out;
}

export async function readMountInfo(pid: number | 'self' = 'self'): Promise<MountInfoEntry[]> {
  return parseMountInfo(await readFile(`/proc/${pid}/mountinfo`, 'utf8'));
}

/** The mount point of the mount `mountPoint` sits on (the last one mounted there), if any. */
export function parentMountPoint(entries: MountInfoEntry[], mountPoint: string): string | undefined {
  const self = entries.filter((e) => e.mountPoint === mountPoint).at(-1);
  return self ? entries.find((e) => e.id === self.parent)?.mountPoint : undefined;
}

/** The mount holding `path` (an absolute, resolved path): the longest mount point above it, the last mounted. */
export function mountOf(entries: MountInfoEntry[], path: string): MountInfoEntry | undefined {
  let best: MountInfoEntry | undefined;
  for (const e of entries) {
    const inside = e.mountPoint === '/' || path === e.mountPoint || path.startsWith(`${e.mountPoint}/`);
    if (inside && (!best || e.mountPoint.length >= best.mountPoint.length)) best = e;
  }
  return best;
}

/** The strongest propagation a bind asks for: `shared` needs a shared source, `slave` a shared or slave one. */
export function bindPropagation(m: MountSpec): 'shared' | 'slave' | undefined {
  if (m.type === 'tmpfs') return undefined;
  const opts = m.options ?? [];
  if (opts.some((o) => o === 'rshared' || o === 'shared')) return 'shared';
  if (opts.some((o) => o === 'rslave' || o === 'slave')) return 'slave';
  return undefined;
}

/**
 * Refuses binds whose propagation cannot work, with dockerd's words: an rshared bind needs
 * its source on a shared mount (else nothing propagates either way), an rslave one on a
 * shared or slave mount.
 */
export async function checkBindPropagation(mounts: MountSpec[]): Promise<void> {
  const wanted = mounts.flatMap((m) => {
    const p = bindPropagation(m);
    return p && m.source ? [{ source: m.source, p }] : [];
  });
  if (wanted.length === 0) return;
  const entries = await readMountInfo();
  for (const w of wanted) {
    const at = mountOf(entries, await realpath(w.source).catch(() => w.source));
    if (!at) continue;
    const shared = at.tags.some((t) => t.startsWith('shared:'));
    const slave = at.tags.some((t) => t.startsWith('master:'));
    if (w.p === 'shared' && !shared) throw new BerthError('Internal', `path ${w.source} is mounted on ${at.mountPoint} but it is not a shared mount`);
    if (w.p === 'slave' && !shared && !slave) throw new BerthError('Internal', `path ${w.source} is mounted on ${at.mountPoint} but it is not a shared or slave mount`);
  }
}

/** containerd's and dockerd's `linux.rootfsPropagation` for these binds: rshared when one is, else rslave when one is. */
export function rootfsPropagation(mounts: MountSpec[]): 'rshared' | 'rslave' | undefined {
  const ps = new Set(mounts.map(bindPropagation));
  return ps.has('shared') ? 'rshared' : ps.has('slave') ? 'rslave' : undefined;
}
