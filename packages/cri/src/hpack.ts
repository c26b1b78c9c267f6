import { huffmanDecode } from './hpack-huffman.js';

/** One header as decoded: bytes stay bytes; `sensitive` = sent never-indexed. */
export interface HeaderField {
  name: Buffer;
  value: Buffer;
  sensitive: boolean;
}

// RFC 7541 Appendix A
const STATIC: [string, string][] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''],
  ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];
const STATIC_FIELDS = STATIC.map(([n, v]) => ({ name: Buffer.from(n), value: Buffer.from(v) }));

/**
 * An HPACK decoder (RFC 7541) keeping the peer encoder's dynamic table in step, so that
 * every header block of a connection can be read. Blocks must be given in order.
 */
export class HpackDecoder {
  private table: { name: Buffer; value: Buffer }[] = []; // newest first
  private size = 0;
  private maxSize = 4096;

  decode(block: Buffer): HeaderField[] {
    const out: HeaderField[] = [];
    let pos = 0;
    const int = (prefixBits: number): number => {
      const mask = 2 ** prefixBits - 1;
      let v = block[pos++]! & mask;
      if (v < mask) return v;
      let m = 0;
      for (;;) {
        if (pos >= block.length) throw new Error('hpack: truncated integer');
        const b = block[pos++]!;
        v += (b & 127) * 2 ** m;
        m += 7;
        if ((b & 128) === 0) return v;
        if (m > 28) throw new Error('hpack: integer too large');
      }
    };
    const str = (): Buffer => {
      const huffman = (block[pos]! & 0x80) !== 0;
      const len = int(7);
      if (pos + len > block.length) throw new Error('hpack: truncated string');
      const raw = block.subarray(pos, pos + len);
      pos += len;
      return huffman ? huffmanDecode(raw) : Buffer.from(raw);
    };
    while (pos < block.length) {
      const b = block[pos]!;
      if (b & 0x80) {
        const f = this.at(int(7));
        out.push({ name: f.name, value: f.value, sensitive: false });
      } else if ((b & 0xc0) === 0x40) {
        const idx = int(6);
        const name = idx === 0 ? str() : this.at(idx).name;
        const value = str();
        this.add(name, value);
        out.push({ name, value, sensitive: false });
      } else if ((b & 0xe0) === 0x20) {
        this.maxSize = int(5);
        this.evict();
      } else {
        const sensitive = (b & 0x10) !== 0;
        const idx = int(4);
        const name = idx === 0 ? str() : this.at(idx).name;
        out.push({ name, value: str(), sensitive });
      }
    }
    return out;
  }

  private at(index: number): { name: Buffer; value: Buffer } {
    const f = index <= STATIC_FIELDS.length ? STATIC_FIELDS[index - 1] : this.table[index - STATIC_FIELDS.length - 1];
    if (!f || index === 0) throw new Error(`hpack: no table entry ${index}`);
    return f;
  }

  private add(name: Buffer, value: Buffer): void {
    this.table.unshift({ name, value });
    this.size += name.length + value.length + 32;
    this.evict();
  }

  private evict(): void {
    while (this.size > this.maxSize && this.table.length > 0) {
      const e = this.table.pop()!;
      this.size -= e.name.length + e.value.length + 32;
    }
  }
}

/**
 * Encodes a header list with literals only (never indexed into the peer's dynamic table),
 * so the peer's decoder table stays empty and nothing has to be tracked on this side.
 */
export function encodeLiterals(fields: HeaderField[]): Buffer {
  const parts: Buffer[] = [];
  const int = (first: number, prefixBits: number, v: number): void => {
    const mask = 2 ** prefixBits - 1;
    if (v < mask) {
      parts.push(Buffer.from([first | v]));
      return;
    }
    const bytes = [first | mask];
    v -= mask;
    while (v >= 128) {
      bytes.push((v % 128) | 128);
      v = Math.floor(v / 128);
    }
    bytes.push(v);
    parts.push(Buffer.from(bytes));
  };
  for (const f of fields) {
    parts.push(Buffer.from([f.sensitive ? 0x10 : 0x00]));
    int(0, 7, f.name.length);
    parts.push(f.name);
    int(0, 7, f.value.length);
    parts.push(f.value);
  }
  return Buffer.concat(parts);
}
