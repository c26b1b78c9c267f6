import { createHash } from 'node:crypto';
import { constants as C, type Stats } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, type Digest } from '@berth/image-format';
import { encodeHeader, padding, TAR_END, type TarHeader } from './tar-writer.js';
import { readXattrTree } from './xattr.js';

/** One entry of a layer: a path to archive from disk, or a whiteout marker. */
interface LayerEntry {
  header: TarHeader;
  /** File to read the content from (regular files only). */
  abs?: string;
}

const OVERLAY_XATTR = /^trusted\.overlay\./;
const byName = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** The header of `abs` (archived as `name`); a second name of a multiply linked inode becomes a hard link to the first. */
export async function headerFor(name: string, abs: string, st: Stats, xattrs: Map<string, Buffer> | undefined, links: Map<string, string>): Promise<LayerEntry> {
  const base = {
    name,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    size: 0,
    mtime: Math.floor(st.mtimeMs / 1000),
    xattrs: xattrs ? [...xattrs].filter(([k]) => !OVERLAY_XATTR.test(k)) : [],
  };
  if (!st.isDirectory() && st.nlink > 1) {
    const id = `${st.dev}:${st.ino}`;
    const first = links.get(id);
    if (first !== undefined) return { header: { ...base, type: 'link', linkname: first, xattrs: [] } };
    links.set(id, name);
  }
  if (st.isFile()) return { header: { ...base, type: 'file', size: st.size }, abs };
  if (st.isDirectory()) return { header: { ...base, type: 'dir' } };
  if (st.isSymbolicLink()) return { header: { ...base, type: 'symlink', linkname: await readlink(abs) } };
  if (st.isFIFO()) return { header: { ...base, type: 'fifo' } };
  if (st.isCharacterDevice() || st.isBlockDevice()) {
    const devmajor = Number((BigInt(st.rdev) >> 8n) & 0xfffn) | Number((BigInt(st.rdev) >> 32n) & ~0xfffn);
    const devminor = Number(BigInt(st.rdev) & 0xffn) | Number((BigInt(st.rdev) >> 12n) & ~0xffn);
    return { header: { ...base, type: st.isCharacterDevice() ? 'char' : 'block', devmajor, devminor } };
  }
  throw new BerthError('Unsupported', `cannot archive ${abs}: socket or unknown file type`);
}

function whiteout(name: string): LayerEntry {
  return { header: { name, type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtime: 0 } };
}

function join2(dir: string, name: string): string {
  return dir === '' ? name : dir + '/' + name;
}

/**
 * The changes recorded in an overlay upper dir: everything in it, with overlay whiteouts
 * (0/0 character devices) turned into `.wh.<name>` and opaque directories
 * (trusted.overlay.opaque=y) followed by `.wh..wh..opq`. Children sorted by name.
 */
export async function overlayChanges(upper: string): Promise<LayerEntry[]> {
  const xattrs = await readXattrTree(upper);
  const links = new Map<string, string>();
  const out: LayerEntry[] = [];
  const walk = async (rel: string): Promise<void> => {
    const abs = rel === '' ? upper : join(upper, rel);
    for (const name of (await readdir(abs)).sort(byName)) {
      const childRel = join2(rel, name);
      const childAbs = join(upper, childRel);
      const st = await lstat(childAbs);
      if (st.isCharacterDevice() && st.rdev === 0) {
        out.push(whiteout(join2(rel, '.wh.' + name)));
        continue;
      }
      const x = xattrs.get(childAbs);
      out.push(await headerFor(childRel, childAbs, st, x, links));
      if (st.isDirectory()) {
        if (x?.get('trusted.overlay.opaque')?.toString() === 'y') out.push(whiteout(join2(childRel, '.wh..wh..opq')));
        await walk(childRel);
      }
    }
  };
  await walk('');
  return out;
}

function sameMeta(a: Stats, b: Stats): boolean {
  return a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && a.rdev === b.rdev;
}

function sameXattrs(a: Map<string, Buffer> | undefined, b: Map<string, Buffer> | undefined): boolean {
  const A = a ?? new Map<string, Buffer>();
  const B = b ?? new Map<string, Buffer>();
  if (A.size !== B.size) return false;
  for (const [k, v] of A) if (!B.get(k)?.equals(v)) return false;
  return true;
}

/**
 * The changes between two trees (a native snapshot and its parent): added and changed
 * entries (a file is changed when its size, mtime, type, mode or owner differ), deleted
 * ones as `.wh.` entries, and every directory on the way to a change.
 */
export async function treeChanges(lower: string | undefined, upper: string): Promise<LayerEntry[]> {
  const [ux, lx] = await Promise.all([readXattrTree(upper), lower ? readXattrTree(lower) : new Map<string, Map<string, Buffer>>()]);
  const links = new Map<string, string>();
  const walk = async (rel: string): Promise<LayerEntry[]> => {
    const out: LayerEntry[] = [];
    const uabs = rel === '' ? upper : join(upper, rel);
    const labs = lower ? (rel === '' ? lower : join(lower, rel)) : undefined;
    const names = await readdir(uabs);
    const lowerNames = labs ? await readdir(labs).catch(() => [] as string[]) : [];
    const all = [...new Set([...names, ...lowerNames])].sort(byName);
    const inUpper = new Set(names);
    for (const name of all) {
      const childRel = join2(rel, name);
      if (!inUpper.has(name)) {
        out.push(whiteout(join2(rel, '.wh.' + name)));
        continue;
      }
      const ua = join(upper, childRel);
      const st = await lstat(ua);
      const lst: Stats | undefined = lower ? await lstat(join(lower, childRel)).catch(() => undefined) : undefined;
      const la = lower ? join(lower, childRel) : '';
      const entry = await headerFor(childRel, ua, st, ux.get(ua), links);
      if (st.isDirectory()) {
        const fresh = !lst || !lst.isDirectory();
        const children = await walk(childRel);
        const changed = fresh || !sameMeta(st, lst!) || Math.floor(st.mtimeMs / 1000) !== Math.floor(lst!.mtimeMs / 1000) || !sameXattrs(ux.get(ua), lx.get(la));
        if (changed || children.length) out.push(entry, ...children);
        continue;
      }
      const unchanged =
        lst &&
        !lst.isDirectory() &&
        sameMeta(st, lst) &&
        st.size === lst.size &&
        st.mtimeMs === lst.mtimeMs &&
        (!st.isSymbolicLink() || (await readlink(ua)) === (await readlink(la))) &&
        sameXattrs(ux.get(ua), lx.get(la));
      if (!unchanged) out.push(entry);
    }
    return out;
  };
  return walk('');
}

const READ_CHUNK = 1 << 20;

/**
 * Streams the layer tar of `entries`, hashing it as it goes (the diffID is final when
 * the generator is done). File contents are read in bounded chunks; small pieces are
 * gathered into ~1 MiB buffers so the compressor is not called once per header.
 */
export async function* tarStream(entries: Iterable<LayerEntry> | AsyncIterable<LayerEntry>, hash = createHash('sha256')): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingLen = 0;
  const take = () => {
    const b = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingLen);
    pending = [];
    pendingLen = 0;
    hash.update(b);
    return b;
  };
  const add = (b: Buffer) => {
    pending.push(b);
    pendingLen += b.length;
    return pendingLen >= READ_CHUNK;
  };
  for await (const e of entries) {
    if (add(encodeHeader(e.header))) yield take();
    if (!e.abs || e.header.type !== 'file' || e.header.size === 0) continue;
    const fh = await open(e.abs, C.O_RDONLY | C.O_NOFOLLOW);
    try {
      let left = e.header.size;
      while (left > 0) {
        const buf = Buffer.allocUnsafe(Math.min(left, READ_CHUNK));
        const { bytesRead: n } = await fh.read(buf, 0, buf.length, null);
        if (n === 0) throw new BerthError('Conflict', `${e.abs} shrank while being archived`);
        left -= n;
        if (add(n === buf.length ? buf : buf.subarray(0, n))) yield take();
      }
    } finally {
      await fh.close();
    }
    const pad = padding(e.header.size);
    if (pad && add(Buffer.alloc(pad))) yield take();
  }
  add(TAR_END);
  yield take();
}

export type { LayerEntry };
