import { createHash, randomBytes } from 'node:crypto';
import { ByteQueue } from './byte-queue.js';

/**
 * RFC 6455 framing, the part kubelet's WebSocket streaming needs: FIN + opcode, the 7/16/64-bit
 * payload length, the client's 4-byte mask. Messages may come in fragments; the reader
 * reassembles them up to a limit.
 */
export const Opcode = { Continuation: 0, Text: 1, Binary: 2, Close: 8, Ping: 9, Pong: 10 } as const;

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Sec-WebSocket-Accept for a client's Sec-WebSocket-Key. */
export function acceptKey(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/** One final frame; `mask` for the client side (servers send unmasked). */
export function wsFrame(opcode: number, payload: Buffer, mask = false): Buffer {
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + (mask ? 4 : 0));
  head[0] = 0x80 | opcode;
  head[1] = (mask ? 0x80 : 0) | (ext === 0 ? len : ext === 2 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(len, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(len), 2);
  if (!mask) return Buffer.concat([head, payload]);
  const key = randomBytes(4);
  key.copy(head, 2 + ext);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i]! ^= key[i & 3]!;
  return Buffer.concat([head, body]);
}

export interface WsMessage {
  opcode: number;
  data: Buffer;
}

/** Cuts a byte stream into whole messages (control frames as they come, data messages reassembled). */
export class WsMessageReader {
  private readonly queue = new ByteQueue();
  private fragments: Buffer[] = [];
  private fragmentsSize = 0;
  private fragmentOpcode = 0;

  constructor(private readonly maxMessage: number) {}

  push(chunk: Buffer): WsMessage[] {
    this.queue.push(chunk);
    const out: WsMessage[] = [];
    for (;;) {
      if (this.queue.size < 2) break;
      const h = this.queue.peek(Math.min(this.queue.size, 14));
      const fin = (h[0]! & 0x80) !== 0;
      const opcode = h[0]! & 0x0f;
      const masked = (h[1]! & 0x80) !== 0;
      let len = h[1]! & 0x7f;
      let at = 2;
      if (len === 126) {
        if (h.length < 4) break;
        len = h.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (h.length < 10) break;
        const big = h.readBigUInt64BE(2);
        if (big > BigInt(this.maxMessage)) throw new Error('WebSocket frame over the limit');
        len = Number(big);
        at = 10;
      }
      if (len > this.maxMessage) throw new Error('WebSocket frame over the limit');
      const total = at + (masked ? 4 : 0) + len;
      if (this.queue.size < total) break;
      const frame = this.queue.take(total);
      const payload = Buffer.from(frame.subarray(total - len));
      if (masked) {
        const key = frame.subarray(at, at + 4);
        for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i & 3]!;
      }
      if (opcode >= 8) {
        out.push({ opcode, data: payload });
        continue;
      }
      if (opcode !== Opcode.Continuation) {
        this.fragments = [];
        this.fragmentsSize = 0;
        this.fragmentOpcode = opcode;
      }
      this.fragments.push(payload);
      this.fragmentsSize += payload.length;
      if (this.fragmentsSize > this.maxMessage) throw new Error('WebSocket message over the limit');
      if (fin) {
        out.push({ opcode: this.fragmentOpcode, data: Buffer.concat(this.fragments) });
        this.fragments = [];
        this.fragmentsSize = 0;
      }
    }
    return out;
  }
}
