/**
 * A minimal, deterministic tar (ustar + PAX) header encoder. tar-stream's PAX encoder
 * takes string values only, so binary xattrs (security.capability) could not be written;
 * this one writes PAX records as raw bytes, in a fixed order, with no atime/ctime.
 */
export type TarType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarHeader {
  name: string;
  type: TarType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Owner names (Docker's export writes the host's names for the ids); none when absent. */
  uname?: string;
  gname?: string;
  xattrs?: [string, Buffer][];
}

const TYPEFLAG: Record<TarType, number> = { file: 0x30, link: 0x31, symlink: 0x32, char: 0x33, block: 0x34, dir: 0x35, fifo: 0x36 };
const MAX_OCTAL_7 = 0o7777777;
const MAX_OCTAL_11 = 0o77777777777;

/** ustar's 11 octal digits of seconds reach 2242; Go writes a PAX record for other times. */
const mtimeFits = (t: number): boolean => t >= 0 && t <= MAX_OCTAL_11;

function octal(buf: Buffer, off: number, len: number, value: number): void {
  buf.write(value.toString(8).padStart(len - 1, '0') + '\0', off, len, 'latin1');
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len), 'latin1'), body]);
}

function ustar(h: TarHeader, name: string, linkname: string, type: number, size: number): Buffer {
  const buf = Buffer.alloc(512);
  buf.write(name, 0, 100, 'utf8');
  // permission bits, and the file type bits when the caller gives them (as Docker's export does)
  octal(buf, 100, 8, h.mode & 0o777777);
  octal(buf, 108, 8, Math.min(h.uid, MAX_OCTAL_7));
  octal(buf, 116, 8, Math.min(h.gid, MAX_OCTAL_7));
  octal(buf, 124, 12, size);
  // a time ustar cannot hold is in the PAX mtime record; the field says 0, as Go writes it
  octal(buf, 136, 12, mtimeFits(h.mtime) ? h.mtime : 0);
  buf[156] = type;
  buf.write(linkname, 157, 100, 'utf8');
  buf.write('ustar\x0000', 257, 8, 'latin1');
  if (h.uname) buf.write(h.uname, 265, 32, 'utf8');
  if (h.gname) buf.write(h.gname, 297, 32, 'utf8');
  octal(buf, 329, 8, h.devmajor ?? 0);
  octal(buf, 337, 8, h.devminor ?? 0);
  buf.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += buf[i]!;
  buf.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return buf;
}

/** The header block(s) of one entry: a PAX header first when anything does not fit ustar. */
export function encodeHeader(h: TarHeader): Buffer {
  const name = h.type === 'dir' && !h.name.endsWith('/') ? h.name + '/' : h.name;
  const linkname = h.linkname ?? '';
  const records: Buffer[] = [];
  const fits = (s: string) => Buffer.byteLength(s) <= 100 && /^[\x20-\x7e]*$/.test(s);
  if (!fits(name)) records.push(paxRecord('path', Buffer.from(name, 'utf8')));
  if (!fits(linkname)) records.push(paxRecord('linkpath', Buffer.from(linkname, 'utf8')));
  if (h.size > MAX_OCTAL_11) records.push(paxRecord('size', Buffer.from(String(h.size))));
  if (h.uid > MAX_OCTAL_7) records.push(paxRecord('uid', Buffer.from(String(h.uid))));
  if (h.gid > MAX_OCTAL_7) records.push(paxRecord('gid', Buffer.from(String(h.gid))));
  if (!mtimeFits(h.mtime)) records.push(paxRecord('mtime', Buffer.from(String(h.mtime))));
  for (const [k, v] of [...(h.xattrs ?? [])].sort((a, b) => (a[0] < b[0] ? -1 : 1))) records.push(paxRecord('SCHILY.xattr.' + k, v));
  const main = ustar(h, fits(name) ? name : name.slice(0, 99), fits(linkname) ? linkname : '', TYPEFLAG[h.type], h.size > MAX_OCTAL_11 ? 0 : h.size);
  if (records.length === 0) return main;
  const pax = Buffer.concat(records);
  const { uname: _uname, gname: _gname, ...unnamed } = h;
  const paxHeader = ustar({ ...unnamed, mode: 0o644, uid: 0, gid: 0, xattrs: [] }, 'PaxHeaders/' + Buffer.from(name).subarray(0, 80).toString('latin1').replace(/[^\x20-\x7e]/g, '_'), '', 0x78, pax.length);
  return Buffer.concat([paxHeader, pax, Buffer.alloc(padding(pax.length)), main]);
}

export function padding(size: number): number {
  return (512 - (size % 512)) % 512;
}

/** The end-of-archive marker: two zero blocks. */
export const TAR_END = Buffer.alloc(1024);
