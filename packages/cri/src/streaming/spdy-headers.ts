import { constants, createInflate, deflateRawSync, type Inflate } from 'node:zlib';
import { SPDY_DICTIONARY } from './spdy-dictionary.js';

/** A SPDY name/value block: lower-case names; several values of one name joined by NUL, as on the wire. */
export type SpdyHeaders = Record<string, string>;

/** The first value of a header (SPDY joins several with NUL). */
export function headerValue(h: SpdyHeaders, name: string): string | undefined {
  const v = h[name.toLowerCase()];
  return v === undefined ? undefined : v.split('\0')[0];
}

/** More than any stream's headers need; bounds what a hostile block can inflate to. */
export const MAX_HEADER_BLOCK = 256 * 1024;
const WINDOW = 32 * 1024;

/** Serializes a name/value block (uncompressed): counts and lengths as 4-byte big-endian numbers. */
export function encodeHeaderBlock(h: SpdyHeaders): Buffer {
  const entries = Object.entries(h);
  const parts: Buffer[] = [u32(entries.length)];
  for (const [name, value] of entries) {
    const n = Buffer.from(name.toLowerCase(), 'utf8');
    const v = Buffer.from(value, 'utf8');
    parts.push(u32(n.length), n, u32(v.length), v);
  }
  return Buffer.concat(parts);
}

/** Parses an uncompressed name/value block; throws on a truncated or inconsistent one. */
export function parseHeaderBlock(b: Buffer): SpdyHeaders {
  let at = 0;
  const take = (n: number): Buffer => {
    if (at + n > b.length) throw new Error('truncated SPDY header block');
    const part = b.subarray(at, at + n);
    at += n;
    return part;
  };
  const count = take(4).readUInt32BE(0);
  const h: SpdyHeaders = {};
  for (let i = 0; i < count; i++) {
    const name = take(take(4).readUInt32BE(0)).toString('utf8').toLowerCase();
    const value = take(take(4).readUInt32BE(0)).toString('utf8');
    h[name] = h[name] === undefined ? value : `${h[name]}\0${value}`;
  }
  return h;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function adler32(b: Buffer): number {
  let a = 1;
  let s = 0;
  for (const c of b) {
    a = (a + c) % 65521;
    s = (s + a) % 65521;
  }
  return ((s << 16) | a) >>> 0;
}

/**
 * One direction's header compression: a single zlib stream per connection, primed with SPDY's
 * dictionary, each block ending in a sync flush so the peer can read it at once. Node offers
 * no synchronous zlib context that lives on, so each block is deflated raw with the stream's
 * history (the dictionary and every block before, its last 32 KiB window) as dictionary: the
 * back-references then point at what the peer's single inflater already holds, and frames stay
 * written in order without waiting on a callback.
 */
export class HeaderCompressor {
  private history: Buffer = SPDY_DICTIONARY.subarray(-WINDOW);
  private started = false;

  compress(h: SpdyHeaders): Buffer {
    const block = encodeHeaderBlock(h);
    const body = deflateRawSync(block, { dictionary: this.history, finishFlush: constants.Z_SYNC_FLUSH, level: 9 });
    this.history = Buffer.concat([this.history, block]).subarray(-WINDOW);
    if (this.started) return body;
    this.started = true;
    // zlib header: deflate with a 32 KiB window, FDICT set, then the dictionary's Adler-32
    const cmf = 0x78;
    let flg = (3 << 6) | 0x20;
    flg += (31 - ((cmf * 256 + flg) % 31)) % 31;
    const head = Buffer.alloc(6);
    head[0] = cmf;
    head[1] = flg;
    head.writeUInt32BE(adler32(SPDY_DICTIONARY), 2);
    return Buffer.concat([head, body]);
  }
}

/**
 * The other direction: one inflater for the whole connection (the peer's blocks refer back to
 * earlier ones). Inflating is asynchronous in Node, so the connection feeds blocks in frame
 * order and waits for each.
 */
export class HeaderDecompressor {
  private readonly inflate: Inflate = createInflate({ dictionary: SPDY_DICTIONARY, flush: constants.Z_SYNC_FLUSH });
  private out: Buffer[] = [];
  private outSize = 0;
  private failed: Error | undefined;

  constructor() {
    this.inflate.on('error', (e: Error) => (this.failed ??= e));
    // flowing, so zlib never waits for a reader; what a block inflates to is counted as it comes
    this.inflate.on('data', (b: Buffer) => {
      this.outSize += b.length;
      if (this.outSize <= MAX_HEADER_BLOCK) this.out.push(b);
      else if (!this.failed) {
        this.failed = new Error('SPDY header block too large');
        this.inflate.destroy();
      }
    });
  }

  decompress(block: Buffer): Promise<SpdyHeaders> {
    return new Promise((resolve, reject) => {
      if (this.failed) return reject(this.failed);
      this.inflate.write(block, (err) => {
        const out = Buffer.concat(this.out);
        this.out = [];
        this.outSize = 0;
        if (err || this.failed) return reject(this.failed ?? err);
        try {
          resolve(parseHeaderBlock(out));
        } catch (e) {
          reject(e as Error);
        }
      });
    });
  }

  close(): void {
    this.inflate.destroy();
  }
}
