/**
 * An ext4 file system written in one pass, for the disks an LCOW utility VM mounts (a
 * Linux image's layers, a container's scratch): the role hcsshim's tar2ext4/compactext4
 * plays. File data is streamed to the image as it arrives (memory holds only the tree's
 * metadata); directories, inode tables, bitmaps and group descriptors are written at the
 * end, where flex_bg lets them live. Layout: 4 KiB blocks, 32768 per group, 256-byte
 * inodes, extents, sparse superblock backups (each backup group keeps its first
 * 1 + GDT_BLOCKS blocks), linear directories, xattrs in the inode and an xattr block
 * (xattr.ts), POSIX ACLs in ext4's form (acl.ts). No journal (the GCS mounts
 * layers read-only). At most GDT_BLOCKS * 128 groups of 128 MiB: 64 GiB.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { InvalidArgumentError } from '@berth/image-format';
import { vhdFooter } from './vhd.js';
import { planXattrs, writeIbody, xattrEntries, XattrBlocks, type XattrPlan } from './xattr.js';

export const BLOCK = 4096;
const PER_GROUP = 32768;
const INODE_SIZE = 256;
const GDT_BLOCKS = 4;
const EXTRA_ISIZE = 32;
const ROOT_INO = 2;
const FIRST_INO = 11;
const MAX_EXTENT = 32768;
const S = { IFREG: 0o100000, IFDIR: 0o040000, IFLNK: 0o120000, IFCHR: 0o020000, IFBLK: 0o060000, IFIFO: 0o010000, IFSOCK: 0o140000 };
const DIRENT_TYPE: Record<number, number> = { [S.IFREG]: 1, [S.IFDIR]: 2, [S.IFCHR]: 3, [S.IFBLK]: 4, [S.IFIFO]: 5, [S.IFSOCK]: 6, [S.IFLNK]: 7 };

export interface Ext4Meta {
  /** Permission bits (and setuid/setgid/sticky). */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. */
  mtime: number;
  /**
   * Extended attributes by full name (`trusted.overlay.opaque`, `user.x`,
   * `security.capability`), values as getxattr(2) gives them: POSIX ACLs
   * (`system.posix_acl_access`/`_default`) in the Linux xattr form.
   */
  xattrs?: Record<string, Buffer>;
}

interface Inode {
  ino: number;
  type: number;
  meta: Ext4Meta;
  size: number;
  links: number;
  /** [first block, count] runs of the data. */
  runs: [number, number][];
  /** A fast symlink's target, a device's numbers. */
  inline?: Buffer;
  rdev?: [number, number];
  children?: Map<string, Inode>;
  parent?: Inode;
  /** Where its xattrs go (made at finish) and the xattr block it points at. */
  ea?: XattrPlan;
  eaBlock?: number;
}

/** The xattrs' placement, or an error naming the file whose xattrs ext4 cannot hold. */
function planFor(path: string, type: number, meta: Ext4Meta): XattrPlan {
  try {
    return planXattrs(xattrEntries(meta.xattrs, type === S.IFDIR ? 'dir' : type === S.IFLNK ? 'symlink' : 'other', meta.mode));
  } catch (err) {
    throw new InvalidArgumentError(`${path || '/'}: ${(err as Error).message}`);
  }
}

function isBackupGroup(g: number): boolean {
  if (g <= 1) return true;
  for (const p of [3, 5, 7]) {
    let n = p;
    while (n < g) n *= p;
    if (n === g) return true;
  }
  return false;
}

/** Whether block b holds a superblock or group descriptor copy. */
function reserved(b: number): boolean {
  const g = Math.floor(b / PER_GROUP);
  return isBackupGroup(g) && b % PER_GROUP < 1 + GDT_BLOCKS;
}

export class Ext4Writer {
  private next = 1 + GDT_BLOCKS;
  private used: [number, number][] = [];
  private readonly inodes: Inode[] = [];
  private readonly root: Inode;
  private seq = FIRST_INO;

  private constructor(private readonly fh: FileHandle) {
    this.root = this.newInode(S.IFDIR, { mode: 0o755, uid: 0, gid: 0, mtime: 0 }, ROOT_INO);
    this.root.parent = this.root;
  }

  static async create(path: string): Promise<Ext4Writer> {
    const w = new Ext4Writer(await open(path, 'w'));
    // e2fsck wants lost+found; it is the first inode after the reserved ones, as mke2fs makes it
    w.link(w.root, 'lost+found', w.newInode(S.IFDIR, { mode: 0o700, uid: 0, gid: 0, mtime: 0 }));
    return w;
  }

  private newInode(type: number, meta: Ext4Meta, ino = this.seq++): Inode {
    const i: Inode = { ino, type, meta, size: 0, links: 0, runs: [] };
    if (type === S.IFDIR) i.children = new Map();
    this.inodes.push(i);
    return i;
  }

  private link(dir: Inode, name: string, child: Inode): void {
    dir.children!.set(name, child);
    if (child.type === S.IFDIR) child.parent = dir;
  }

  /** The directory at `parts`, made (with the parent's metadata defaults) when missing. */
  private dir(parts: string[]): Inode {
    let d = this.root;
    for (const p of parts) {
      let c = d.children!.get(p);
      if (!c || c.type !== S.IFDIR) {
        c = this.newInode(S.IFDIR, { mode: 0o755, uid: 0, gid: 0, mtime: d.meta.mtime });
        this.link(d, p, c);
      }
      d = c;
    }
    return d;
  }

  private static split(path: string): string[] {
    const parts = path.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.includes('..')) throw new InvalidArgumentError(`${path}: a path in the file system may not climb out of it`);
    for (const p of parts) if (Buffer.byteLength(p) > 255) throw new InvalidArgumentError(`${path}: a name is longer than 255 bytes`);
    return parts;
  }

  private place(path: string): { dir: Inode; name: string } {
    const parts = Ext4Writer.split(path);
    const name = parts.pop();
    if (name === undefined) throw new InvalidArgumentError('the root cannot be replaced');
    return { dir: this.dir(parts), name };
  }

  /** What is at `path` (its live metadata, for a caller that amends it), or undefined. */
  stat(path: string): { dir: boolean; meta: Ext4Meta } | undefined {
    let n: Inode | undefined = this.root;
    for (const p of Ext4Writer.split(path)) n = n?.children?.get(p);
    return n && { dir: n.type === S.IFDIR, meta: n.meta };
  }

  /** Gives up: the image file is closed as it is (the caller removes it). */
  async abort(): Promise<void> {
    await this.fh.close().catch(() => undefined);
  }

  /** Removes a name (an overlay whiteout's target in the same layer, or a path replaced). */
  remove(path: string): void {
    const { dir, name } = this.place(path);
    dir.children!.delete(name);
  }

  mkdir(path: string, meta: Ext4Meta): void {
    planFor(path, S.IFDIR, meta);
    const parts = Ext4Writer.split(path);
    if (parts.length === 0) {
      this.root.meta = { ...meta };
      return;
    }
    const d = this.dir(parts);
    d.meta = { ...meta };
  }

  symlink(path: string, target: string, meta: Ext4Meta): void {
    planFor(path, S.IFLNK, meta);
    const { dir, name } = this.place(path);
    const i = this.newInode(S.IFLNK, meta);
    const t = Buffer.from(target);
    i.size = t.length;
    i.inline = t; // in the inode when shorter than 60 bytes, else a data block written at finish
    this.link(dir, name, i);
  }

  /** A character/block device, FIFO or socket; a char device 0/0 is an overlay whiteout. */
  special(path: string, kind: 'char' | 'block' | 'fifo' | 'socket', meta: Ext4Meta, rdev: [number, number] = [0, 0]): void {
    const { dir, name } = this.place(path);
    const type = { char: S.IFCHR, block: S.IFBLK, fifo: S.IFIFO, socket: S.IFSOCK }[kind];
    planFor(path, type, meta);
    const i = this.newInode(type, meta);
    i.rdev = rdev;
    this.link(dir, name, i);
  }

  /** A hard link to a regular file (or other non-directory) already written. */
  hardlink(path: string, target: string): void {
    const t = Ext4Writer.split(target);
    let n: Inode | undefined = this.root;
    for (const p of t) n = n?.children?.get(p);
    if (!n || n.type === S.IFDIR) throw new InvalidArgumentError(`hard link ${path} -> ${target}: no such file`);
    const { dir, name } = this.place(path);
    this.link(dir, name, n);
  }

  /** A regular file, its data streamed straight to the image. */
  async file(path: string, meta: Ext4Meta, data: AsyncIterable<Buffer | Uint8Array> | Buffer): Promise<void> {
    planFor(path, S.IFREG, meta);
    const { dir, name } = this.place(path);
    const i = this.newInode(S.IFREG, meta);
    const pending: Buffer[] = [];
    let pendingLen = 0;
    const flush = async (all: boolean) => {
      while (pendingLen >= BLOCK || (all && pendingLen > 0)) {
        const buf = Buffer.concat(pending);
        const blocks = all ? Math.ceil(buf.length / BLOCK) : Math.floor(buf.length / BLOCK);
        let off = 0;
        let left = blocks;
        while (left > 0) {
          const [start, n] = this.allocRun(left);
          const bytes = buf.subarray(off, Math.min(buf.length, off + n * BLOCK));
          await this.fh.write(bytes, 0, bytes.length, start * BLOCK);
          this.addRun(i, start, n);
          off += n * BLOCK;
          left -= n;
        }
        pending.length = 0;
        pendingLen = 0;
        if (off < buf.length) {
          pending.push(buf.subarray(off));
          pendingLen = buf.length - off;
        }
        if (all) return;
      }
    };
    for await (const chunk of Buffer.isBuffer(data) ? [data] : data) {
      const b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      i.size += b.length;
      pending.push(b);
      pendingLen += b.length;
      if (pendingLen >= 16 * BLOCK) await flush(false);
    }
    await flush(true);
    this.link(dir, name, i);
  }

  private addRun(i: Inode, start: number, n: number): void {
    const last = i.runs.at(-1);
    if (last && last[0] + last[1] === start && last[1] + n <= MAX_EXTENT) last[1] += n;
    else i.runs.push([start, n]);
  }

  /** Up to `want` free blocks in a row from the allocation point (a backup's blocks cut a run). */
  private allocRun(want: number): [number, number] {
    while (reserved(this.next)) this.next++;
    const start = this.next;
    let n = 0;
    while (n < want && n < MAX_EXTENT && !reserved(start + n)) n++;
    this.next = start + n;
    return [start, n];
  }

  /** `n` blocks in one run (inode tables, bitmaps, an extent leaf). */
  private allocContiguous(n: number): number {
    for (;;) {
      while (reserved(this.next)) this.next++;
      let k = 0;
      while (k < n && !reserved(this.next + k)) k++;
      if (k === n) break;
      this.next += k;
    }
    const start = this.next;
    this.next += n;
    return start;
  }

  private async writeData(i: Inode, data: Buffer): Promise<void> {
    for (let off = 0; off < data.length; ) {
      const [start, n] = this.allocRun(Math.ceil((data.length - off) / BLOCK));
      const bytes = data.subarray(off, off + n * BLOCK);
      await this.fh.write(bytes, 0, bytes.length, start * BLOCK);
      this.addRun(i, start, n);
      off += n * BLOCK;
    }
  }

  /** A directory's entries (`.`, `..`, then the children), packed in blocks. */
  private dirBlocks(d: Inode): Buffer {
    const entries: [number, number, Buffer][] = [
      [d.ino, 2, Buffer.from('.')],
      [d.parent!.ino, 2, Buffer.from('..')],
      ...[...d.children!].map(([name, c]) => [c.ino, DIRENT_TYPE[c.type]!, Buffer.from(name)] as [number, number, Buffer]),
    ];
    const blocks: Buffer[] = [];
    let block = Buffer.alloc(BLOCK);
    let off = 0;
    let lastAt = -1;
    for (const [ino, type, name] of entries) {
      const len = (8 + name.length + 3) & ~3;
      if (off + len > BLOCK) {
        block.writeUInt16LE(BLOCK - lastAt, lastAt + 4);
        blocks.push(block);
        block = Buffer.alloc(BLOCK);
        off = 0;
      }
      block.writeUInt32LE(ino, off);
      block.writeUInt16LE(len, off + 4);
      block.writeUInt8(name.length, off + 6);
      block.writeUInt8(type, off + 7);
      name.copy(block, off + 8);
      lastAt = off;
      off += len;
    }
    block.writeUInt16LE(BLOCK - lastAt, lastAt + 4);
    blocks.push(block);
    return Buffer.concat(blocks);
  }

  /**
   * Writes the directories and the metadata; the image is at least `minBytes` long (a
   * scratch's size: the rest is free space). Returns the image's size in bytes.
   */
  async finish(opts: { minBytes?: number; bytesPerInode?: number } = {}): Promise<number> {
    // what the root reaches is the file system (a removed name's subtree is not); link counts are its names
    const live: Inode[] = [];
    const seen = new Set<Inode>();
    for (const i of this.inodes) i.links = 0;
    // (the xattrs are placed here, where the path that names a refused file is known)
    const found = (i: Inode, path: string): void => {
      seen.add(i);
      live.push(i);
      if (i.meta.xattrs && Object.keys(i.meta.xattrs).length > 0) i.ea = planFor(path, i.type, i.meta);
    };
    const walk = (d: Inode, path: string): void => {
      found(d, path);
      d.links += 2;
      for (const [name, c] of d.children!) {
        if (c.type === S.IFDIR) {
          d.links++;
          walk(c, `${path}/${name}`);
        } else {
          c.links++;
          if (!seen.has(c)) found(c, `${path}/${name}`);
        }
      }
    };
    walk(this.root, '');
    let ino = FIRST_INO;
    for (const i of live.filter((x) => x.ino >= FIRST_INO).sort((a, b) => a.ino - b.ino)) i.ino = ino++;
    for (const d of live.filter((i) => i.type === S.IFDIR)) {
      const data = this.dirBlocks(d);
      d.size = data.length;
      await this.writeData(d, data);
    }
    for (const i of live.filter((x) => x.type === S.IFLNK && x.inline && x.inline.length >= 60)) await this.writeData(i, i.inline!);
    const leaves = new Map<Inode, number>();
    for (const i of live) if (i.runs.length > 4) leaves.set(i, this.allocContiguous(1));
    if (live.some((i) => i.runs.length > (BLOCK - 12) / 12)) throw new InvalidArgumentError('a file is too fragmented for one extent leaf');
    const eaBlocks = new XattrBlocks(
      () => this.allocContiguous(1),
      async (b, at) => {
        await this.fh.write(b, 0, b.length, at);
      },
    );
    for (const i of live) if (i.ea?.block.length) i.eaBlock = await eaBlocks.place(i.ea.block);
    const eaUsed = await eaBlocks.close();
    // groups, inode tables and bitmaps at the end (flex_bg): grow until they fit
    const dataEnd = this.next;
    const wantBlocks = Math.max(Math.ceil((opts.minBytes ?? 0) / BLOCK), dataEnd);
    let groups = Math.max(1, Math.ceil(wantBlocks / PER_GROUP));
    let ipg: number;
    let layout: { bb: number[]; ib: number[]; it: number[]; end: number };
    for (;;) {
      const inodesWanted = Math.max(ino - 1, opts.bytesPerInode ? Math.ceil((groups * PER_GROUP * BLOCK) / opts.bytesPerInode) : 0);
      ipg = Math.min(PER_GROUP, Math.max(16, Math.ceil(Math.ceil(inodesWanted / groups) / 16) * 16));
      const itBlocks = (ipg * INODE_SIZE) / BLOCK;
      const save = this.next;
      const bb: number[] = [];
      const ib: number[] = [];
      const it: number[] = [];
      for (let g = 0; g < groups; g++) bb.push(this.allocContiguous(1));
      for (let g = 0; g < groups; g++) ib.push(this.allocContiguous(1));
      for (let g = 0; g < groups; g++) it.push(this.allocContiguous(itBlocks));
      let end = Math.max(this.next, wantBlocks);
      // the last group must hold its own backup copy when it has one
      const lastStart = (Math.ceil(end / PER_GROUP) - 1) * PER_GROUP;
      if (isBackupGroup(lastStart / PER_GROUP)) end = Math.max(end, lastStart + 1 + GDT_BLOCKS + 1);
      if (Math.ceil(end / PER_GROUP) === groups && groups * ipg >= ino - 1) {
        layout = { bb, ib, it, end };
        break;
      }
      this.next = save;
      groups = Math.ceil(end / PER_GROUP);
      if (groups > GDT_BLOCKS * (BLOCK / 32)) throw new InvalidArgumentError(`a file system of ${groups} groups is more than Berth writes (${GDT_BLOCKS * (BLOCK / 32)})`);
    }
    const blocksCount = layout.end;
    const itBlocks = (ipg * INODE_SIZE) / BLOCK;
    this.used = [
      ...live.flatMap((i) => i.runs),
      ...[...leaves.values(), ...eaUsed].map((b) => [b, 1] as [number, number]),
      ...layout.bb.map((b) => [b, 1] as [number, number]),
      ...layout.ib.map((b) => [b, 1] as [number, number]),
      ...layout.it.map((b) => [b, itBlocks] as [number, number]),
    ];
    // a copy is the superblock and the descriptors' blocks; the rest of the area the allocator skipped is free space
    const gdtUsed = Math.ceil((groups * 32) / BLOCK);
    for (let g = 0; g < groups; g++) if (isBackupGroup(g)) this.used.push([g * PER_GROUP, 1 + gdtUsed]);

    // inodes: numbered 1..ino-1 (1-10 reserved, only the root of them used), so only the first groups hold any
    const byNumber = new Map(live.map((i) => [i.ino, i] as const));
    const usedDirs = new Array<number>(groups).fill(0);
    const freeInodes = new Array<number>(groups).fill(ipg);
    for (let g = 0; g * ipg < ino - 1; g++) {
      const table = Buffer.alloc(ipg * INODE_SIZE);
      for (let k = 0; k < ipg; k++) {
        const n = g * ipg + k + 1;
        if (n >= ino) break;
        freeInodes[g]!--;
        const i = byNumber.get(n);
        if (!i) continue;
        if (i.type === S.IFDIR) usedDirs[g]!++;
        await this.encodeInode(i, table.subarray(k * INODE_SIZE, (k + 1) * INODE_SIZE), leaves.get(i));
      }
      await this.fh.write(table, 0, table.length, layout.it[g]! * BLOCK);
    }

    // bitmaps, from the used runs (and the padding past the end, which counts as used)
    const freeBlocks = new Array<number>(groups).fill(PER_GROUP);
    const bitmaps = Array.from({ length: groups }, () => Buffer.alloc(BLOCK));
    const setBits = (first: number, count: number) => {
      for (let b = first; b < first + count; ) {
        const g = Math.floor(b / PER_GROUP);
        const upto = Math.min(first + count, (g + 1) * PER_GROUP);
        const bmp = bitmaps[g]!;
        for (let k = b - g * PER_GROUP; k < upto - g * PER_GROUP; k++) bmp[k >> 3]! |= 1 << (k & 7);
        freeBlocks[g]! -= upto - b;
        b = upto;
      }
    };
    for (const [first, count] of this.used) setBits(first, count);
    setBits(blocksCount, groups * PER_GROUP - blocksCount);
    for (let g = 0; g < groups; g++) {
      await this.fh.write(bitmaps[g]!, 0, BLOCK, layout.bb[g]! * BLOCK);
      const ibm = Buffer.alloc(BLOCK);
      const inUse = Math.max(0, Math.min(ipg, ino - 1 - g * ipg));
      for (let k = 0; k < PER_GROUP; k++) if (k < inUse || k >= ipg) ibm[k >> 3]! |= 1 << (k & 7);
      await this.fh.write(ibm, 0, BLOCK, layout.ib[g]! * BLOCK);
    }

    // group descriptors, superblocks
    const gdt = Buffer.alloc(GDT_BLOCKS * BLOCK);
    for (let g = 0; g < groups; g++) {
      const o = g * 32;
      gdt.writeUInt32LE(layout.bb[g]!, o);
      gdt.writeUInt32LE(layout.ib[g]!, o + 4);
      gdt.writeUInt32LE(layout.it[g]!, o + 8);
      gdt.writeUInt16LE(freeBlocks[g]!, o + 12);
      gdt.writeUInt16LE(freeInodes[g]!, o + 14);
      gdt.writeUInt16LE(usedDirs[g]!, o + 16);
    }
    const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
    for (let g = 0; g < groups; g++) {
      if (!isBackupGroup(g)) continue;
      const sb = this.superblock({ blocksCount, groups, ipg, freeBlocks: sum(freeBlocks), freeInodes: sum(freeInodes), group: g });
      const at = g * PER_GROUP * BLOCK;
      await this.fh.write(sb, 0, sb.length, g === 0 ? 1024 : at);
      await this.fh.write(gdt, 0, gdtUsed * BLOCK, at + BLOCK);
    }
    // the file is the whole volume, then a fixed VHD's footer (what HCS attaches)
    const size = blocksCount * BLOCK;
    await this.fh.truncate(size);
    const footer = vhdFooter(size);
    await this.fh.write(footer, 0, footer.length, size);
    await this.fh.close();
    return size + footer.length;
  }

  private async encodeInode(i: Inode, b: Buffer, leaf: number | undefined): Promise<void> {
    const m = i.meta;
    b.writeUInt16LE((i.type | (m.mode & 0o7777)) & 0xffff, 0);
    b.writeUInt16LE(m.uid & 0xffff, 2);
    b.writeUInt32LE(i.size % 2 ** 32, 4);
    const t = Math.max(0, Math.min(0xffffffff, Math.floor(m.mtime)));
    b.writeUInt32LE(t, 8);
    b.writeUInt32LE(t, 12);
    b.writeUInt32LE(t, 16);
    b.writeUInt16LE(m.gid & 0xffff, 24);
    b.writeUInt16LE(i.links, 26);
    // i_blocks counts the extent leaf and the xattr block too
    const dataBlocks = i.runs.reduce((s, r) => s + r[1], 0) + (leaf !== undefined ? 1 : 0) + (i.eaBlock !== undefined ? 1 : 0);
    b.writeUInt32LE(dataBlocks * (BLOCK / 512), 28);
    b.writeUInt32LE(i.eaBlock ?? 0, 104); // i_file_acl (its high half stays 0: 64 GiB at most)
    b.writeUInt32LE(Math.floor(i.size / 2 ** 32), 108);
    b.writeUInt16LE((m.uid >>> 16) & 0xffff, 120);
    b.writeUInt16LE((m.gid >>> 16) & 0xffff, 122);
    b.writeUInt16LE(EXTRA_ISIZE, 128);
    const iblock = b.subarray(40, 100);
    if (i.type === S.IFLNK && i.runs.length === 0) {
      i.inline!.copy(iblock);
    } else if (i.rdev) {
      const [major, minor] = i.rdev;
      if (major < 256 && minor < 256) iblock.writeUInt32LE((major << 8) | minor, 0);
      else iblock.writeUInt32LE(((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0, 4);
    } else {
      b.writeUInt32LE(0x80000, 32); // EXT4_EXTENTS_FL
      if (leaf === undefined) writeExtents(iblock, i.runs, 4, 0);
      else {
        const leafBuf = Buffer.alloc(BLOCK);
        writeExtents(leafBuf, i.runs, (BLOCK - 12) / 12, 0);
        await this.fh.write(leafBuf, 0, BLOCK, leaf * BLOCK);
        iblock.writeUInt16LE(0xf30a, 0);
        iblock.writeUInt16LE(1, 2);
        iblock.writeUInt16LE(4, 4);
        iblock.writeUInt16LE(1, 6);
        iblock.writeUInt32LE(0, 12);
        iblock.writeUInt32LE(leaf, 16);
      }
    }
    writeIbody(b.subarray(128 + EXTRA_ISIZE), i.ea?.ibody ?? []);
  }

  private superblock(s: { blocksCount: number; groups: number; ipg: number; freeBlocks: number; freeInodes: number; group: number }): Buffer {
    const b = Buffer.alloc(1024);
    b.writeUInt32LE(s.groups * s.ipg, 0);
    b.writeUInt32LE(s.blocksCount, 4);
    b.writeUInt32LE(s.freeBlocks, 12);
    b.writeUInt32LE(s.freeInodes, 16);
    b.writeUInt32LE(0, 20); // first data block
    b.writeUInt32LE(2, 24); // 4 KiB blocks
    b.writeUInt32LE(2, 28);
    b.writeUInt32LE(PER_GROUP, 32);
    b.writeUInt32LE(PER_GROUP, 36);
    b.writeUInt32LE(s.ipg, 40);
    b.writeUInt16LE(0xffff, 54); // no mount-count checks
    b.writeUInt16LE(0xef53, 56);
    b.writeUInt16LE(1, 58); // clean
    b.writeUInt16LE(1, 60); // continue on errors
    b.writeUInt32LE(1, 76); // dynamic revision
    b.writeUInt32LE(FIRST_INO, 84);
    b.writeUInt16LE(INODE_SIZE, 88);
    b.writeUInt16LE(s.group, 90);
    b.writeUInt32LE(0x8, 92); // compat: ext_attr
    b.writeUInt32LE(0x2 | 0x40 | 0x200, 96); // incompat: filetype, extents, flex_bg
    b.writeUInt32LE(0x1 | 0x2, 100); // ro_compat: sparse_super, large_file
    // a fixed uuid: the same tree gives the same bytes
    Buffer.from('6265727468206c61796572206578743a', 'hex').copy(b, 104);
    b.writeUInt16LE(EXTRA_ISIZE, 348);
    b.writeUInt16LE(EXTRA_ISIZE, 350);
    b.writeUInt8(Math.max(0, Math.ceil(Math.log2(s.groups))), 372); // log groups per flex
    return b;
  }
}

function writeExtents(buf: Buffer, runs: [number, number][], max: number, depth: number): void {
  buf.writeUInt16LE(0xf30a, 0);
  buf.writeUInt16LE(runs.length, 2);
  buf.writeUInt16LE(max, 4);
  buf.writeUInt16LE(depth, 6);
  let logical = 0;
  runs.forEach(([start, n], k) => {
    const o = 12 + 12 * k;
    buf.writeUInt32LE(logical, o);
    buf.writeUInt16LE(n, o + 4);
    buf.writeUInt16LE(0, o + 6);
    buf.writeUInt32LE(start, o + 8);
    logical += n;
  });
}
