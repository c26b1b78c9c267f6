import { Transform, type TransformCallback } from 'node:stream';

const BLOCK = 512;
/** PAX records larger than this are not followed (the extractor refuses far smaller ones). */
const MAX_PAX = 1 << 20;

/**
 * Completes a build context tar that stops right after an entry's data. The docker CLI's
 * legacy builder sends a Dockerfile from outside the context (`-f ../x`, `-f -`) added to
 * the context tar without the entry's padding and the end-of-archive blocks; Docker's daemon
 * reads tars with Go's archive/tar, which takes the end of the stream there as the end of the
 * archive. The bytes pass through unchanged; at the end, when the tar stopped inside an
 * entry's padding or between entries, the missing zeros are added. A tar cut anywhere else
 * (in a header, in data) is left as it is, for the extractor to refuse.
 */
export class TarEndCompleter extends Transform {
  private state: 'header' | 'data' | 'pad' | 'end' | 'lost' = 'header';
  private readonly header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  /** Bytes left in the current entry's data or padding. */
  private left = 0;
  private pad = 0;
  /** The PAX record being read (type `x`), and the size it gives the next entry. */
  private pax: Buffer[] | undefined;
  private paxLength = 0;
  private nextSize: number | undefined;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    let off = 0;
    while (off < chunk.length && this.state !== 'end' && this.state !== 'lost') {
      if (this.state === 'header') {
        const n = Math.min(BLOCK - this.headerFill, chunk.length - off);
        chunk.copy(this.header, this.headerFill, off, off + n);
        this.headerFill += n;
        off += n;
        if (this.headerFill === BLOCK) this.onHeader();
      } else {
        const n = Math.min(this.left, chunk.length - off);
        if (this.state === 'data' && this.pax) this.collectPax(chunk.subarray(off, off + n));
        this.left -= n;
        off += n;
        if (this.left === 0) this.endSegment();
      }
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.state === 'pad') this.push(Buffer.alloc(this.left + 2 * BLOCK));
    else if (this.state === 'header' && this.headerFill === 0) this.push(Buffer.alloc(2 * BLOCK));
    cb();
  }

  private onHeader(): void {
    this.headerFill = 0;
    if (this.header.every((b) => b === 0)) {
      this.state = 'end';
      return;
    }
    const type = String.fromCharCode(this.header[156]!);
    let size = headerSize(this.header);
    if (size === undefined) {
      this.state = 'lost';
      return;
    }
    if (type === 'x') {
      this.pax = [];
      this.paxLength = 0;
    } else if (type !== 'g') {
      size = this.nextSize ?? size;
      this.nextSize = undefined;
      // as the extractor reads them: a directory has no data, whatever its size field says
      if (type === '5') size = 0;
    }
    this.left = size;
    this.pad = (BLOCK - (size % BLOCK)) % BLOCK;
    this.state = 'data';
    if (size === 0) this.endSegment();
  }

  private collectPax(part: Buffer): void {
    this.paxLength += part.length;
    if (this.paxLength > MAX_PAX) this.state = 'lost';
    else this.pax!.push(Buffer.from(part));
  }

  private endSegment(): void {
    if (this.state === 'lost') return;
    if (this.state === 'data') {
      if (this.pax) {
        this.nextSize = paxSize(Buffer.concat(this.pax).toString('utf8'));
        this.pax = undefined;
      }
      this.state = 'pad';
      this.left = this.pad;
      if (this.left > 0) return;
    }
    this.state = 'header';
  }
}

/** The header's size field: octal, or base-256 (high bit set) as Go writes large sizes. */
function headerSize(h: Buffer): number | undefined {
  const field = h.subarray(124, 136);
  if (field[0]! & 0x80) {
    let n = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return Number.isSafeInteger(n) ? n : undefined;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) return undefined;
  return parseInt(text, 8);
}

/** The `size` record of PAX text (`<len> size=<n>\n`), if any. */
function paxSize(text: string): number | undefined {
  const m = /(?:^|\n)\d+ size=(\d+)\n/.exec(text);
  return m ? Number(m[1]) : undefined;
}
