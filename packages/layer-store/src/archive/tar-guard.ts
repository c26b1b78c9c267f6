import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { InvalidArgumentError, type Digest } from '@berth/image-format';

export interface TarLimits {
  maxEntries: number;
  maxBytes: number;
  maxPaxHeader: number;
}

/**
 * Sits between the decompressor and the tar parser: hashes the uncompressed stream (the
 * diffID), enforces the caps before any header is buffered, and keeps each entry's PAX
 * xattrs as raw bytes — tar-stream decodes PAX values as UTF-8, which would corrupt
 * binary values such as security.capability.
 */
export class TarGuard extends Transform {
  readonly hash: Hash = createHash('sha256');
  bytes = 0;
  entries = 0;
  /** Per real entry, in archive order: its xattrs (or undefined). */
  private readonly xattrQueue: (Map<string, Buffer> | undefined)[] = [];
  private header = Buffer.alloc(512);
  private headerFill = 0;
  private skip = 0;
  /** Collecting the data of a long header ('x', 'g', 'L', 'K'). */
  private longType = 0;
  private longBuf: Buffer[] = [];
  private longMissing = 0;
  private pax: Map<string, Buffer> | undefined;
  private paxSize: number | undefined;
  private globalPax: Map<string, Buffer> | undefined;

  constructor(private readonly limits: TarLimits, private readonly hashing = true) {
    super({ highWaterMark: 1 << 20 });
  }

  nextEntryXattrs(): Map<string, Buffer> | undefined {
    return this.xattrQueue.shift();
  }

  digest(): Digest {
    return `sha256:${this.hash.digest('hex')}`;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.hashing) this.hash.update(chunk);
    this.bytes += chunk.length;
    if (this.bytes > this.limits.maxBytes) {
      return cb(new InvalidArgumentError(`archive is larger than the limit of ${this.limits.maxBytes} bytes uncompressed`));
    }
    try {
      this.scan(chunk);
    } catch (err) {
      return cb(err as Error);
    }
    cb(null, chunk);
  }

  private scan(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.longMissing > 0) {
        const n = Math.min(this.longMissing, chunk.length - off);
        this.longBuf.push(chunk.subarray(off, off + n));
        this.longMissing -= n;
        off += n;
        if (this.longMissing === 0) this.endLong();
        continue;
      }
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - off);
        this.skip -= n;
        off += n;
        continue;
      }
      const n = Math.min(512 - this.headerFill, chunk.length - off);
      chunk.copy(this.header, this.headerFill, off, off + n);
      this.headerFill += n;
      off += n;
      if (this.headerFill === 512) {
        this.headerFill = 0;
        this.onHeader(this.header);
      }
    }
  }

  private onHeader(h: Buffer): void {
    if (h.every((b) => b === 0)) return;
    const type = h[156]!;
    const size = decodeSize(h.subarray(124, 136));
    const padded = size + ((512 - (size % 512)) % 512);
    // 'x' PAX, 'g' global PAX, 'L'/'K' GNU long name and link name.
    if (type === 0x78 || type === 0x67 || type === 0x4c || type === 0x4b) {
      if (size > this.limits.maxPaxHeader) {
        throw new InvalidArgumentError(`archive has a ${size}-byte extended header; the limit is ${this.limits.maxPaxHeader}`);
      }
      this.longType = type;
      this.longBuf = [];
      this.longMissing = size;
      this.skip = padded - size;
      if (size === 0) this.endLong();
      return;
    }
    this.entries++;
    if (this.entries > this.limits.maxEntries) {
      throw new InvalidArgumentError(`archive has more than ${this.limits.maxEntries} entries`);
    }
    let xattrs: Map<string, Buffer> | undefined;
    for (const src of [this.globalPax, this.pax]) {
      if (src) for (const [k, v] of src) (xattrs ??= new Map()).set(k, v);
    }
    this.xattrQueue.push(xattrs);
    const dataSize = this.paxSize ?? size;
    this.pax = undefined;
    this.paxSize = undefined;
    // tar-stream reads no data after a directory header; mirror it to stay in step.
    const isDir = type === 0x35 || ((type === 0x30 || type === 0) && h[h.subarray(0, 100).indexOf(0) - 1] === 0x2f);
    this.skip = isDir ? 0 : dataSize + ((512 - (dataSize % 512)) % 512);
  }

  private endLong(): void {
    const buf = Buffer.concat(this.longBuf);
    this.longBuf = [];
    if (this.longType === 0x78 || this.longType === 0x67) {
      const { xattrs, size } = parsePax(buf);
      if (this.longType === 0x67) this.globalPax = xattrs;
      else {
        this.pax = xattrs;
        this.paxSize = size;
      }
    }
  }
}

function decodeSize(field: Buffer): number {
  if (field[0]! & 0x80) {
    // base-256, big-endian, for sizes over 8 GiB
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  const s = field.toString('latin1').replace(/\0.*$/s, '').trim();
  return s ? parseInt(s, 8) : 0;
}

function parsePax(buf: Buffer): { xattrs: Map<string, Buffer> | undefined; size: number | undefined } {
  let xattrs: Map<string, Buffer> | undefined;
  let size: number | undefined;
  let off = 0;
  while (off < buf.length) {
    const sp = buf.indexOf(0x20, off);
    if (sp < 0) break;
    const len = parseInt(buf.subarray(off, sp).toString('latin1'), 10);
    if (!(len > 0) || off + len > buf.length) break;
    const rec = buf.subarray(sp + 1, off + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq > 0) {
      const key = rec.subarray(0, eq).toString('utf8');
      const value = rec.subarray(eq + 1);
      if (key.startsWith('SCHILY.xattr.')) (xattrs ??= new Map()).set(key.slice(13), Buffer.from(value));
      else if (key === 'size') size = parseInt(value.toString('latin1'), 10);
    }
    off += len;
  }
  return { xattrs, size };
}
