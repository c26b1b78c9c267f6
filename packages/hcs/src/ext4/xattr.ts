/**
 * Extended attributes as ext4 stores them: first in the inode's extra space (after
 * i_extra_isize), what does not fit there in one xattr block the inode's i_file_acl points
 * at (no ea_inode feature: a value lives in the block or the inode, so a file carries at
 * most the inode's room plus one block). The block is ext4's: header (magic 0xEA020000,
 * refcount, h_blocks 1, h_hash), entries sorted as the kernel's lookup expects them
 * (index, name length, name), values packed down from the block's end, each entry hashed
 * and the block hashed over its entries as e2fsck checks them. Identical blocks are
 * shared with a refcount, as the kernel's mbcache shares them (up to its 1024 limit).
 */
import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '@berth/image-format';
import { ACL_INDEX, ext4Acl } from './acl.js';

const BLOCK = 4096;
const MAGIC = 0xea020000;
const HEADER = 32;
/** Room for entries and values in the inode: 256 - 128 - i_extra_isize 32, less magic and terminator. */
const IBODY_ROOM = 96 - 4 - 4;
/** Room in one 4 KiB block, less its header and the entries' terminator. */
const BLOCK_ROOM = BLOCK - HEADER - 4;
/** EXT4_XATTR_REFCOUNT_MAX: past it the kernel starts another block. */
const REFCOUNT_MAX = 1024;
const PREFIXES: [string, number][] = [
  ['user.', 1],
  ['trusted.', 4],
  ['security.', 6],
];

interface XattrEntry {
  index: number;
  name: Buffer;
  value: Buffer;
}

/** Where an inode's attributes go: the inode's own room, and the rest for a block. */
export interface XattrPlan {
  ibody: XattrEntry[];
  block: XattrEntry[];
}

const pad = (n: number) => (n + 3) & ~3;
const entryLen = (e: XattrEntry) => pad(16 + e.name.length);
const cost = (e: XattrEntry) => entryLen(e) + pad(e.value.length);

/**
 * The ext4 entries for xattrs by full name (`user.x`, `system.posix_acl_access`), ACLs in
 * ext4's own form (an access ACL agreeing with the permission bits `mode`); what ext4
 * could not hold or the kernel would refuse is an error.
 */
export function xattrEntries(xattrs: Record<string, Buffer> | undefined, kind: 'dir' | 'symlink' | 'other', mode: number): XattrEntry[] {
  const out: XattrEntry[] = [];
  for (const [full, value] of Object.entries(xattrs ?? {})) {
    const acl = ACL_INDEX[full];
    if (acl !== undefined) {
      if (kind === 'symlink') throw new InvalidArgumentError(`${full}: Linux keeps no ACL on a symlink`);
      if (acl === 3 && kind !== 'dir') throw new InvalidArgumentError(`${full}: only a directory has a default ACL`);
      const disk = ext4Acl(full, value, mode);
      if (disk) out.push({ index: acl, name: Buffer.alloc(0), value: disk });
      continue;
    }
    const prefix = PREFIXES.find(([p]) => full.startsWith(p));
    if (!prefix) throw new InvalidArgumentError(`extended attribute ${full}: only user., trusted., security. and POSIX ACLs are written`);
    const name = Buffer.from(full.slice(prefix[0].length));
    if (name.length === 0 || name.length > 255 || name.includes(0)) throw new InvalidArgumentError(`extended attribute ${JSON.stringify(full)}: a name is 1 to 255 bytes without NUL`);
    out.push({ index: prefix[1], name, value });
  }
  return out;
}

/** Fills the inode's room in the given order and leaves the rest to one block; refuses more. */
export function planXattrs(entries: XattrEntry[]): XattrPlan {
  const plan: XattrPlan = { ibody: [], block: [] };
  let inode = 0;
  let block = 0;
  for (const e of entries) {
    if (inode + cost(e) <= IBODY_ROOM) {
      plan.ibody.push(e);
      inode += cost(e);
    } else {
      plan.block.push(e);
      block += cost(e);
    }
  }
  if (block > BLOCK_ROOM) {
    throw new InvalidArgumentError(`its extended attributes need ${inode + block} bytes of ext4 xattr space; one file holds at most ${IBODY_ROOM} in its inode and ${BLOCK_ROOM} in one 4 KiB xattr block (ext4 without ea_inode)`);
  }
  return plan;
}

/** ext4_xattr_hash_entry: the name's bytes, then the value's little-endian words (zero padded). */
function entryHash(e: XattrEntry): number {
  let h = 0;
  for (const c of e.name) h = ((h << 5) ^ (h >>> 27) ^ c) >>> 0;
  const v = Buffer.alloc(pad(e.value.length));
  e.value.copy(v);
  for (let o = 0; o < v.length; o += 4) h = ((h << 16) ^ (h >>> 16) ^ v.readUInt32LE(o)) >>> 0;
  return h;
}

/** Writes entries from `first` and values down from the area's end; value offsets count from `base`. */
function writeEntries(area: Buffer, first: number, base: number, entries: XattrEntry[]): number[] {
  const hashes: number[] = [];
  let at = first;
  let valueEnd = area.length;
  for (const e of entries) {
    let offs = 0;
    if (e.value.length > 0) {
      valueEnd -= pad(e.value.length);
      e.value.copy(area, valueEnd);
      offs = valueEnd - base;
    }
    const hash = entryHash(e);
    area.writeUInt8(e.name.length, at);
    area.writeUInt8(e.index, at + 1);
    area.writeUInt16LE(offs, at + 2);
    area.writeUInt32LE(0, at + 4); // e_value_inum: the value is here
    area.writeUInt32LE(e.value.length, at + 8);
    area.writeUInt32LE(hash, at + 12);
    e.name.copy(area, at + 16);
    hashes.push(hash);
    at += entryLen(e);
  }
  return hashes;
}

/** The in-inode attributes: magic, then entries whose value offsets count from the first entry. */
export function writeIbody(area: Buffer, entries: XattrEntry[]): void {
  if (entries.length === 0) return;
  area.writeUInt32LE(MAGIC, 0);
  writeEntries(area, 4, 4, entries);
}

/** An xattr block holding `entries` with refcount 1. */
function xattrBlock(entries: XattrEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => a.index - b.index || a.name.length - b.name.length || Buffer.compare(a.name, b.name));
  const b = Buffer.alloc(BLOCK);
  const hashes = writeEntries(b, HEADER, 0, sorted);
  // ext4_xattr_rehash: an entry without a hash leaves the block unhashed (0)
  let h = 0;
  for (const e of hashes) {
    if (e === 0) {
      h = 0;
      break;
    }
    h = ((h << 16) ^ (h >>> 16) ^ e) >>> 0;
  }
  b.writeUInt32LE(MAGIC, 0);
  b.writeUInt32LE(1, 4);
  b.writeUInt32LE(1, 8);
  b.writeUInt32LE(h, 12);
  return b;
}

/** The file system's xattr blocks, each written once and shared by the inodes with the same attributes. */
export class XattrBlocks {
  private readonly byContent = new Map<string, { block: number; refs: number }>();
  private readonly all: { block: number; refs: number }[] = [];

  constructor(
    private readonly alloc: () => number,
    /** Writes bytes at a byte position of the image. */
    private readonly write: (data: Buffer, at: number) => Promise<void>,
  ) {}

  /** The block number holding `entries` (a new block, or one already written with the same bytes). */
  async place(entries: XattrEntry[]): Promise<number> {
    const data = xattrBlock(entries);
    const key = createHash('sha256').update(data).digest('base64');
    const found = this.byContent.get(key);
    if (found && found.refs < REFCOUNT_MAX) {
      found.refs++;
      return found.block;
    }
    const slot = { block: this.alloc(), refs: 1 };
    await this.write(data, slot.block * BLOCK);
    this.byContent.set(key, slot);
    this.all.push(slot);
    return slot.block;
  }

  /** Writes the final refcounts of the shared blocks; returns every block used. */
  async close(): Promise<number[]> {
    for (const s of this.all) {
      if (s.refs === 1) continue;
      const rc = Buffer.alloc(4);
      rc.writeUInt32LE(s.refs);
      await this.write(rc, s.block * BLOCK + 4);
    }
    return this.all.map((s) => s.block);
  }
}
