import { ByteQueue } from './byte-queue.js';

/**
 * SPDY/3 framing (what kubelet's `SPDY/3.1` upgrade speaks, through moby/spdystream): an
 * 8-byte head, then the payload. A control frame's head is 0x8000|version, type, flags and a
 * 24-bit length; a data frame's is the stream id (top bit clear), flags and the length. The
 * header blocks inside SYN_STREAM, SYN_REPLY and HEADERS stay compressed here: the
 * connection runs them through its one zlib context in order.
 */
export const SPDY_VERSION = 3;

export const FrameType = {
  SynStream: 1,
  SynReply: 2,
  RstStream: 3,
  Settings: 4,
  Ping: 6,
  GoAway: 7,
  Headers: 8,
  WindowUpdate: 9,
} as const;

export const FLAG_FIN = 0x01;

/** RST_STREAM status codes used here. */
export const RstStatus = { ProtocolError: 1, RefusedStream: 3, Cancel: 5 } as const;

/** The largest payload a frame's 24-bit length can say. */
export const MAX_FRAME_PAYLOAD = 0xffffff;
/** What this codec writes at most per DATA frame (the peer copies in 32 KiB pieces as well). */
export const DATA_CHUNK = 32 * 1024;

export type Frame =
  | { kind: 'data'; streamId: number; flags: number; data: Buffer }
  | { kind: 'control'; type: number; version: number; flags: number; payload: Buffer };

function head(first: number, flags: number, length: number): Buffer {
  if (length > MAX_FRAME_PAYLOAD) throw new RangeError(`SPDY frame too long (${length})`);
  const h = Buffer.alloc(8);
  h.writeUInt32BE(first >>> 0, 0);
  h.writeUInt32BE(((flags << 24) | length) >>> 0, 4);
  return h;
}

function control(type: number, flags: number, payload: Buffer): Buffer {
  const h = head(((0x8000 | SPDY_VERSION) << 16) | type, flags, payload.length);
  return Buffer.concat([h, payload]);
}

function u32s(...ns: number[]): Buffer {
  const b = Buffer.alloc(4 * ns.length);
  ns.forEach((n, i) => b.writeUInt32BE(n >>> 0, i * 4));
  return b;
}

export function dataFrame(streamId: number, data: Buffer, fin: boolean): Buffer {
  return Buffer.concat([head(streamId & 0x7fffffff, fin ? FLAG_FIN : 0, data.length), data]);
}

export function synStreamFrame(streamId: number, block: Buffer, flags = 0, priority = 0): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt32BE(streamId & 0x7fffffff, 0);
  fixed.writeUInt32BE(0, 4); // associated-to stream: none
  fixed[8] = (priority & 7) << 5;
  fixed[9] = 0; // credential slot
  return control(FrameType.SynStream, flags, Buffer.concat([fixed, block]));
}

export function synReplyFrame(streamId: number, block: Buffer, fin: boolean): Buffer {
  return control(FrameType.SynReply, fin ? FLAG_FIN : 0, Buffer.concat([u32s(streamId & 0x7fffffff), block]));
}

export function rstStreamFrame(streamId: number, status: number): Buffer {
  return control(FrameType.RstStream, 0, u32s(streamId & 0x7fffffff, status));
}

export function pingFrame(id: number): Buffer {
  return control(FrameType.Ping, 0, u32s(id));
}

export function goAwayFrame(lastGoodStreamId: number, status = 0): Buffer {
  return control(FrameType.GoAway, 0, u32s(lastGoodStreamId & 0x7fffffff, status));
}

/** SYN_STREAM's fixed fields and its (still compressed) header block. */
export function readSynStream(payload: Buffer): { streamId: number; priority: number; block: Buffer } {
  if (payload.length < 10) throw new Error('short SYN_STREAM');
  return { streamId: payload.readUInt32BE(0) & 0x7fffffff, priority: payload[8]! >> 5, block: payload.subarray(10) };
}

/** SYN_REPLY and HEADERS: the stream id, then the header block. */
export function readStreamHeaders(payload: Buffer): { streamId: number; block: Buffer } {
  if (payload.length < 4) throw new Error('short SPDY headers frame');
  return { streamId: payload.readUInt32BE(0) & 0x7fffffff, block: payload.subarray(4) };
}

/** RST_STREAM, GOAWAY, WINDOW_UPDATE: two numbers; PING: one. */
export function readWords(payload: Buffer, n: number): number[] {
  if (payload.length < 4 * n) throw new Error('short SPDY control frame');
  return Array.from({ length: n }, (_, i) => payload.readUInt32BE(i * 4));
}

/**
 * Cuts a byte stream into frames. Holds at most one frame's bytes (bounded by `maxPayload`)
 * plus what arrived after it; a longer frame is a protocol error.
 */
export class FrameReader {
  private readonly queue = new ByteQueue();

  constructor(private readonly maxPayload = MAX_FRAME_PAYLOAD) {}

  /** Adds bytes and returns the frames now complete, in order. */
  push(chunk: Buffer): Frame[] {
    this.queue.push(chunk);
    const out: Frame[] = [];
    for (;;) {
      if (this.queue.size < 8) break;
      const h = this.queue.peek(8);
      const length = h.readUInt32BE(4) & 0xffffff;
      if (length > this.maxPayload) throw new Error(`SPDY frame of ${length} bytes is over the limit`);
      if (this.queue.size < 8 + length) break;
      const frame = this.queue.take(8 + length);
      const first = frame.readUInt32BE(0);
      const flags = frame[4]!;
      const payload = frame.subarray(8);
      if (first & 0x80000000) out.push({ kind: 'control', version: (first >>> 16) & 0x7fff, type: first & 0xffff, flags, payload });
      else out.push({ kind: 'data', streamId: first & 0x7fffffff, flags, data: payload });
    }
    return out;
  }
}
