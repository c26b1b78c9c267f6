/**
 * What the simulated LCOW guest sees of its disks: a small reader of the ext4 inside a
 * VHD (superblock, group descriptors, inodes, extent trees, linear directories), and the
 * container's root as overlayfs would show it: the layers topmost first, a character
 * device 0/0 hiding what is below it. Enough for a guest program to read the image's
 * files (`cat /etc/os-release`); it reads only, and only what Berth's writer makes.
 */
import { closeSync, openSync, readSync } from 'node:fs';

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFCHR = 0o020000;
const S_IFLNK = 0o120000;

interface RawInode {
  mode: number;
  size: number;
  block: Buffer;
  extents: boolean;
}

export class Ext4Image {
  private readonly fd: number;
  private readonly blockSize: number;
  private readonly inodesPerGroup: number;
  private readonly inodeSize: number;

  constructor(path: string) {
    this.fd = openSync(path, 'r');
    const sb = this.read(1024, 1024);
    if (sb.readUInt16LE(56) !== 0xef53) {
      closeSync(this.fd);
      throw new Error(`${path} holds no ext4 file system`);
    }
    this.blockSize = 1024 << sb.readUInt32LE(24);
    this.inodesPerGroup = sb.readUInt32LE(40);
    this.inodeSize = sb.readUInt16LE(88);
  }

  close(): void {
    closeSync(this.fd);
  }

  private read(offset: number, length: number): Buffer {
    const b = Buffer.alloc(length);
    readSync(this.fd, b, 0, length, offset);
    return b;
  }

  private inode(n: number): RawInode {
    const g = Math.floor((n - 1) / this.inodesPerGroup);
    const desc = this.read(this.blockSize * (this.blockSize === 1024 ? 2 : 1) + g * 32, 32);
    const table = desc.readUInt32LE(8);
    const raw = this.read(table * this.blockSize + ((n - 1) % this.inodesPerGroup) * this.inodeSize, 128);
    return { mode: raw.readUInt16LE(0), size: raw.readUInt32LE(4) + raw.readUInt32LE(108) * 2 ** 32, block: raw.subarray(40, 100), extents: (raw.readUInt32LE(32) & 0x80000) !== 0 };
  }

  /** [logical block, physical block, count] of an extent tree node. */
  private extents(node: Buffer): [number, number, number][] {
    const entries = node.readUInt16LE(2);
    const depth = node.readUInt16LE(6);
    const out: [number, number, number][] = [];
    for (let k = 0; k < entries; k++) {
      const o = 12 + 12 * k;
      if (depth === 0) out.push([node.readUInt32LE(o), node.readUInt16LE(o + 6) * 2 ** 32 + node.readUInt32LE(o + 8), node.readUInt16LE(o + 4)]);
      else out.push(...this.extents(this.read((node.readUInt16LE(o + 8) * 2 ** 32 + node.readUInt32LE(o + 4)) * this.blockSize, this.blockSize)));
    }
    return out;
  }

  private data(i: RawInode): Buffer {
    if (!i.extents) return (i.mode & S_IFMT) === S_IFLNK ? Buffer.from(i.block.subarray(0, i.size)) : Buffer.alloc(0);
    const out = Buffer.alloc(i.size);
    for (const [logical, physical, count] of this.extents(i.block)) {
      const at = logical * this.blockSize;
      if (at >= i.size) continue;
      const part = this.read(physical * this.blockSize, Math.min(count * this.blockSize, i.size - at));
      part.copy(out, at);
    }
    return out;
  }

  private lookup(dir: number, name: string): number | undefined {
    const d = this.data(this.inode(dir));
    for (let off = 0; off + 8 <= d.length; ) {
      const ino = d.readUInt32LE(off);
      const recLen = d.readUInt16LE(off + 4);
      const nameLen = d.readUInt8(off + 6);
      if (ino !== 0 && d.toString('utf8', off + 8, off + 8 + nameLen) === name) return ino;
      if (recLen === 0) break;
      off += recLen;
    }
    return undefined;
  }

  /** What `path` is in this layer: a file's bytes, a whiteout, something else, or nothing. */
  entry(path: string): { kind: 'file'; data: Buffer } | { kind: 'whiteout' | 'other' } | undefined {
    let ino = 2;
    for (const part of path.split('/').filter(Boolean)) {
      const node = this.inode(ino);
      if ((node.mode & S_IFMT) !== S_IFDIR) return undefined;
      const next = this.lookup(ino, part);
      if (next === undefined) return undefined;
      ino = next;
    }
    const i = this.inode(ino);
    const type = i.mode & S_IFMT;
    if (type === S_IFREG) return { kind: 'file', data: this.data(i) };
    if (type === S_IFCHR && i.block.readUInt32LE(0) === 0 && i.block.readUInt32LE(4) === 0) return { kind: 'whiteout' };
    return { kind: 'other' };
  }
}

/** A file of the container's root: the topmost layer that has the path (or hides it) decides. */
export function readFromLayers(layers: readonly string[], path: string): Buffer | undefined {
  for (const vhd of layers) {
    let img: Ext4Image | undefined;
    try {
      img = new Ext4Image(vhd);
      const e = img.entry(path);
      if (e?.kind === 'file') return e.data;
      if (e) return undefined;
    } catch {
      return undefined;
    } finally {
      img?.close();
    }
  }
  return undefined;
}
