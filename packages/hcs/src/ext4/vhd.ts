/**
 * The disk format HCS attaches: a fixed VHD is the raw volume followed by a 512-byte
 * footer (Microsoft's Virtual Hard Disk Image Format Specification).
 */
/** A fixed-size VHD's 512-byte footer (Microsoft's VHD format: "conectix", big-endian fields, one's-complement checksum). */
export function vhdFooter(size: number): Buffer {
  const f = Buffer.alloc(512);
  f.write('conectix', 0, 'latin1');
  f.writeUInt32BE(2, 8); // features: reserved bit
  f.writeUInt32BE(0x00010000, 12); // format version 1.0
  f.writeBigUInt64BE(0xffffffffffffffffn, 16); // data offset: none (fixed disk)
  f.writeUInt32BE(0, 24); // timestamp
  f.write('brth', 28, 'latin1'); // creator application
  f.writeUInt32BE(0x000a0000, 32); // creator version
  f.write('Wi2k', 36, 'latin1'); // creator host OS
  f.writeBigUInt64BE(BigInt(size), 40); // original size
  f.writeBigUInt64BE(BigInt(size), 48); // current size
  const sectors = Math.min(Math.floor(size / 512), 65535 * 16 * 255);
  // CHS geometry as the VHD specification computes it
  let spt: number;
  let heads: number;
  let cth: number;
  if (sectors >= 65535 * 16 * 63) {
    spt = 255;
    heads = 16;
    cth = Math.floor(sectors / spt);
  } else {
    spt = 17;
    cth = Math.floor(sectors / spt);
    heads = Math.max(4, Math.floor((cth + 1023) / 1024));
    if (cth >= heads * 1024 || heads > 16) {
      spt = 31;
      heads = 16;
      cth = Math.floor(sectors / spt);
    }
    if (cth >= heads * 1024) {
      spt = 63;
      heads = 16;
      cth = Math.floor(sectors / spt);
    }
  }
  f.writeUInt16BE(Math.floor(cth / heads), 56);
  f.writeUInt8(heads, 58);
  f.writeUInt8(spt, 59);
  f.writeUInt32BE(2, 60); // disk type: fixed
  Buffer.from('6265727468206c6179657220766864ff', 'hex').copy(f, 68); // unique id
  let sum = 0;
  for (const byte of f) sum += byte;
  f.writeUInt32BE(~sum >>> 0, 64);
  return f;
}
