import { Transform, type Readable, type Writable } from 'node:stream';
import { once } from 'node:events';
import { InvalidArgumentError } from '@berth/image-format';

/**
 * Docker's multiplexed stream (attach, logs and exec without a TTY): each frame
 * is an 8-byte header `[stream, 0, 0, 0, size (uint32 big-endian)]` then `size`
 * bytes of payload. Stream 0 is stdin, 1 stdout, 2 stderr, 3 the daemon's own
 * error text (systemerr).
 */
export const StreamType = { stdin: 0, stdout: 1, stderr: 2, systemerr: 3 } as const;
export type StreamType = (typeof StreamType)[keyof typeof StreamType];

export const FRAME_HEADER_SIZE = 8;

export interface Frame {
  stream: StreamType;
  payload: Buffer;
}

/** One frame: header plus payload, ready to write. */
export function encodeFrame(stream: StreamType, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(FRAME_HEADER_SIZE);
  header[0] = stream;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

/** A Transform that frames every chunk written to it as `stream` (the server side). */
export function createMuxer(stream: StreamType): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (chunk.length === 0) return done();
      done(null, encodeFrame(stream, chunk));
    },
  });
}

/**
 * Incremental frame parser: feed it chunks as they arrive, it returns whole frames.
 * Holds at most one partial frame.
 */
export class FrameDecoder {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  push(chunk: Buffer): Frame[] {
    if (chunk.length > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
    }
    const frames: Frame[] = [];
    for (;;) {
      if (this.pendingBytes < FRAME_HEADER_SIZE) break;
      const head = this.peek(FRAME_HEADER_SIZE);
      const stream = head[0] as number;
      if (stream > 3 || head[1] !== 0 || head[2] !== 0 || head[3] !== 0) {
        throw new InvalidArgumentError(`malformed multiplexed stream: bad frame header ${head.toString('hex')}`);
      }
      const size = head.readUInt32BE(4);
      if (this.pendingBytes < FRAME_HEADER_SIZE + size) break;
      const all = this.take(FRAME_HEADER_SIZE + size);
      frames.push({ stream: stream as StreamType, payload: all.subarray(FRAME_HEADER_SIZE) });
    }
    return frames;
  }

  /** Bytes of an incomplete frame still buffered. */
  get buffered(): number {
    return this.pendingBytes;
  }

  private peek(n: number): Buffer {
    const first = this.pending[0] as Buffer;
    if (first.length >= n) return first.subarray(0, n);
    const joined = Buffer.concat(this.pending);
    this.pending = [joined];
    return joined.subarray(0, n);
  }

  private take(n: number): Buffer {
    const joined = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending);
    const out = joined.subarray(0, n);
    const rest = joined.subarray(n);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    return out;
  }
}

/** Yields the frames of a multiplexed stream as they arrive. */
export async function* readFrames(source: AsyncIterable<Buffer | string>): AsyncGenerator<Frame> {
  const decoder = new FrameDecoder();
  for await (const chunk of source) {
    for (const frame of decoder.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)) yield frame;
  }
  if (decoder.buffered > 0) {
    throw new InvalidArgumentError(`multiplexed stream ended inside a frame (${decoder.buffered} bytes left)`);
  }
}

/**
 * Splits a multiplexed stream into stdout and stderr, honouring back-pressure.
 * Frames of the systemerr stream are written to stderr. Resolves when the source
 * ends; the destinations are not ended.
 */
export async function demultiplexStream(source: Readable | AsyncIterable<Buffer>, stdout: Writable, stderr: Writable): Promise<void> {
  for await (const frame of readFrames(source as AsyncIterable<Buffer>)) {
    const dest = frame.stream === StreamType.stdout || frame.stream === StreamType.stdin ? stdout : stderr;
    if (!dest.write(frame.payload)) await once(dest, 'drain');
  }
}
