/**
 * A Linux layer as the LCOW guest mounts it: an ext4 file system in a fixed VHD
 * (`layer.vhd`), with Docker's whiteouts turned into overlayfs's (a `.wh.<name>` file
 * becomes a character device 0/0 named <name>; `.wh..wh..opq` marks its directory
 * `trusted.overlay.opaque=y`), as hcsshim's tar2ext4 does with ConvertWhiteout. The
 * source is the layer as the guarded extractor unpacked it (whiteouts kept): names, data,
 * symlinks, hard links, modes, owners and times as the host file system kept them.
 */
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Ext4Writer, type Ext4Meta } from './writer.js';

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

export async function layerVhdFromDir(dir: string, out: string): Promise<number> {
  const w = await Ext4Writer.create(out);
  const inodes = new Map<string, string>();
  const meta = (st: { mode: number; uid: number; gid: number; mtimeMs: number }): Ext4Meta => ({ mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) });
  const walk = async (rel: string): Promise<void> => {
    const here = join(dir, rel);
    const st = await lstat(here);
    const m = meta(st);
    const names = (await readdir(here)).sort();
    if (names.includes(OPAQUE)) m.xattrs = { 'trusted.overlay.opaque': Buffer.from('y') };
    w.mkdir(rel, m);
    for (const name of names) {
      if (name === OPAQUE) continue;
      const p = rel ? `${rel}/${name}` : name;
      const full = join(dir, p);
      const s = await lstat(full);
      if (name.startsWith(WHITEOUT)) {
        w.special(rel ? `${rel}/${name.slice(WHITEOUT.length)}` : name.slice(WHITEOUT.length), 'char', meta(s), [0, 0]);
        continue;
      }
      if (s.isDirectory()) await walk(p);
      else if (s.isSymbolicLink()) w.symlink(p, await readlink(full), meta(s));
      else if (s.isFile()) {
        const key = `${s.dev}:${s.ino}`;
        const first = s.nlink > 1 ? inodes.get(key) : undefined;
        if (first) w.hardlink(p, first);
        else {
          await w.file(p, meta(s), createReadStream(full));
          if (s.nlink > 1) inodes.set(key, p);
        }
      } else if (s.isCharacterDevice() || s.isBlockDevice()) {
        w.special(p, s.isCharacterDevice() ? 'char' : 'block', meta(s), [Number(BigInt(s.rdev) >> 8n) & 0xfff, (s.rdev & 0xff) | ((s.rdev >> 12) & 0xfff00)]);
      } else if (s.isFIFO()) w.special(p, 'fifo', meta(s));
      else if (s.isSocket()) w.special(p, 'socket', meta(s));
    }
  };
  await walk('');
  return w.finish();
}

/** An empty ext4 of `bytes` (a container's scratch): metadata written, the rest a hole. */
export async function emptyExt4Vhd(out: string, bytes: number): Promise<number> {
  const w = await Ext4Writer.create(out);
  return w.finish({ minBytes: bytes, bytesPerInode: 16 * 1024 });
}
