import { describe, expect, it } from 'vitest';
import { encodeLiterals, HpackDecoder } from './hpack.js';

const text = (fields: { name: Buffer; value: Buffer }[]): string[][] => fields.map((f) => [f.name.toString(), f.value.toString()]);

describe('HPACK decoder', () => {
  it('reads RFC 7541 C.4 (Huffman, dynamic table across three requests)', () => {
    const d = new HpackDecoder();
    expect(text(d.decode(Buffer.from('828684418cf1e3c2e5f23a6ba0ab90f4ff', 'hex')))).toEqual([
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
    ]);
    expect(text(d.decode(Buffer.from('828684be5886a8eb10649cbf', 'hex')))).toEqual([
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
      ['cache-control', 'no-cache'],
    ]);
    expect(text(d.decode(Buffer.from('828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf', 'hex')))).toEqual([
      [':method', 'GET'],
      [':scheme', 'https'],
      [':path', '/index.html'],
      [':authority', 'www.example.com'],
      ['custom-key', 'custom-value'],
    ]);
  });

  it('evicts by size as the encoder does (RFC 7541 C.5, table of 256 bytes)', () => {
    const d = new HpackDecoder();
    // a size update to 256, then C.5.1
    d.decode(Buffer.from('3fe101', 'hex'));
    d.decode(Buffer.from('4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d', 'hex'));
    // C.5.2: 307 replaces 302, which was evicted; index 63 is now "cache-control: private"
    expect(text(d.decode(Buffer.from('4803333037c1c0bf', 'hex')))).toEqual([
      [':status', '307'],
      ['cache-control', 'private'],
      ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
      ['location', 'https://www.example.com'],
    ]);
  });

  it('encodes literals that decode back, never-indexed kept, without touching a decoder table', () => {
    const fields = [
      { name: Buffer.from(':authority'), value: Buffer.from('localhost'), sensitive: false },
      { name: Buffer.from('x-long'), value: Buffer.alloc(300, 0xff), sensitive: true },
    ];
    const d = new HpackDecoder();
    const back = d.decode(encodeLiterals(fields));
    expect(back).toEqual(fields);
  });

  it('refuses a truncated block', () => {
    expect(() => new HpackDecoder().decode(Buffer.from('418cf1e3', 'hex'))).toThrow(/truncated/);
  });
});
