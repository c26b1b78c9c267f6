import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { readXattrTreeSync } from '../archive/xattr.js';

export interface TreeEntry {
  type: 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'other';
  mode: number;
  uid: number;
  gid: number;
  size?: number;
  sha256?: string;
  target?: string;
  rdev?: number;
  mtime?: number;
  nlink?: number;
  xattrs?: Record<string, string>;
}

/**
 * A comparable picture of a directory tree: type, mode (with setuid/setgid/sticky),
 * owner, content hash, link target, device numbers, xattrs; mtimes of non-directories
 * when asked. Keys are paths relative to `dir` ('' is the root itself).
 */
export function describeTree(dir: string, opts: { mtimes?: boolean; xattrs?: boolean } = {}): Record<string, TreeEntry> {
  const out: Record<string, TreeEntry> = {};
  const xattrs = opts.xattrs === false ? new Map() : readXattrTreeSync(dir);
  const walk = (rel: string) => {
    const abs = rel === '' ? dir : join(dir, rel);
    const st = lstatSync(abs);
    const e: TreeEntry = { type: 'other', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
    if (st.isFile()) {
      e.type = 'file';
      e.size = st.size;
      e.sha256 = createHash('sha256').update(readFileSync(abs)).digest('hex');
      e.nlink = st.nlink;
    } else if (st.isDirectory()) e.type = 'dir';
    else if (st.isSymbolicLink()) {
      e.type = 'symlink';
      e.target = readlinkSync(abs);
      delete (e as Partial<TreeEntry>).mode;
    } else if (st.isCharacterDevice()) {
      e.type = 'char';
      e.rdev = st.rdev;
    } else if (st.isBlockDevice()) {
      e.type = 'block';
      e.rdev = st.rdev;
    } else if (st.isFIFO()) e.type = 'fifo';
    if (opts.mtimes && !st.isDirectory()) e.mtime = Math.floor(st.mtimeMs / 1000);
    const x = xattrs.get(abs);
    if (x && x.size) e.xattrs = Object.fromEntries([...x].map(([k, v]) => [k, (v as Buffer).toString('hex')]).sort());
    out[rel] = e;
    if (st.isDirectory()) for (const c of readdirSync(abs).sort()) walk(rel === '' ? c : rel + '/' + c);
  };
  walk('');
  return out;
}
