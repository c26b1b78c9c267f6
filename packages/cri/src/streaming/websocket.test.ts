import { describe, expect, it } from 'vitest';
import { Opcode, WsMessageReader, acceptKey, wsFrame } from './websocket-frames.js';

describe('WebSocket frames', () => {
  it('answers the handshake key as RFC 6455 does', () => {
    expect(acceptKey('dGhlIHNhbXBsZSBub25jZQ==')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });

  it('reads masked and unmasked frames of every length form, at any chunking', () => {
    const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => i & 0xff));
    const sizes = [0, 125, 126, 65535, 65536, 200_000];
    const wire = Buffer.concat(sizes.map((n, i) => wsFrame(Opcode.Binary, bytes(n), i % 2 === 0)));
    const r = new WsMessageReader(1 << 20);
    const got = [];
    for (let at = 0; at < wire.length; at += 777) got.push(...r.push(wire.subarray(at, at + 777)));
    expect(got.map((m) => m.data.length)).toEqual(sizes);
    for (const m of got) expect(m.data.equals(bytes(m.data.length))).toBe(true);
  });

  it('joins fragments, passes control frames between them, and refuses what is over the limit', () => {
    const first = wsFrame(Opcode.Text, Buffer.from('he'), true);
    first[0] = first[0]! & 0x7f; // not final
    const cont = wsFrame(Opcode.Continuation, Buffer.from('llo'), true);
    const r = new WsMessageReader(1024);
    const got = r.push(Buffer.concat([first, wsFrame(Opcode.Ping, Buffer.from('p'), true), cont]));
    expect(got.map((m) => [m.opcode, m.data.toString()])).toEqual([
      [Opcode.Ping, 'p'],
      [Opcode.Text, 'hello'],
    ]);
    expect(() => new WsMessageReader(1024).push(wsFrame(Opcode.Binary, Buffer.alloc(2048)).subarray(0, 10))).toThrow(/over the limit/);
  });
});
