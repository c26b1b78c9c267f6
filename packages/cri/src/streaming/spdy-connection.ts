import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import {
  DATA_CHUNK,
  FLAG_FIN,
  FrameReader,
  FrameType,
  RstStatus,
  dataFrame,
  goAwayFrame,
  pingFrame,
  readStreamHeaders,
  readSynStream,
  readWords,
  rstStreamFrame,
  synReplyFrame,
  synStreamFrame,
  type Frame,
} from './spdy-frames.js';
import { HeaderCompressor, HeaderDecompressor, type SpdyHeaders } from './spdy-headers.js';

const EMPTY = Buffer.alloc(0);
/** Frames read but not yet handled (header blocks inflate asynchronously) before the socket is paused. */
const MAX_QUEUED_FRAMES = 64;
/** Open streams one peer may have at once (kubelet's clients use a handful: 5 per exec, 2 per forwarded connection). */
export const MAX_STREAMS = 1000;
/** What one stream holds unread before the connection stops reading the socket. */
const STREAM_BUFFER = 256 * 1024;

/**
 * One SPDY stream as a Node Duplex: what is written goes out in DATA frames, end() sends the
 * FIN, and the peer's DATA frames come out of the readable side (its FIN as the end).
 * Bytes are never decoded.
 */
export class SpdyStream extends Duplex {
  remoteEnded = false;
  localEnded = false;
  /** The peer reset it (RST_STREAM). */
  reset = false;
  /** For a stream this side opened: the peer's SYN_REPLY headers (rejects when it resets the stream instead). */
  readonly replied: Promise<SpdyHeaders>;
  resolveReply: (h: SpdyHeaders) => void = () => undefined;
  rejectReply: (e: Error) => void = () => undefined;

  constructor(
    private readonly conn: SpdyConnection,
    readonly id: number,
    readonly headers: SpdyHeaders,
  ) {
    super({ allowHalfOpen: true, readableHighWaterMark: STREAM_BUFFER, writableHighWaterMark: 64 * 1024 });
    this.replied = new Promise((resolve, reject) => {
      this.resolveReply = resolve;
      this.rejectReply = reject;
    });
    this.replied.catch(() => undefined);
    // writes after the peer reset the stream or left fail here; the session learns of it from the connection
    this.on('error', () => undefined);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.conn.sendData(this, chunk, false, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.conn.sendData(this, EMPTY, true, cb);
  }

  override _read(): void {
    this.conn.resumeStream(this);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.conn.dropStream(this);
    cb(err);
  }
}

export interface SpdyConnectionOptions {
  /** The server side answers the streams the peer opens (odd ids); the client side opens them. */
  server: boolean;
  /** Screens a stream the peer opens: a string refuses it (the reason), undefined takes it. */
  accept?(headers: SpdyHeaders): string | undefined;
}

/**
 * A SPDY/3 connection over an upgraded socket: streams, one header compression context per
 * direction, PING answers, GOAWAY. Flow control windows are not kept, as moby/spdystream (the
 * peer kubelet's clients use) keeps none; memory stays bounded by pausing the socket while a
 * stream's reader is behind and by waiting for the socket to drain before taking more to write.
 * Emits 'stream' (a stream the peer opened and this side took) and 'close'.
 */
export class SpdyConnection extends EventEmitter {
  private readonly reader = new FrameReader();
  private readonly compressor = new HeaderCompressor();
  private readonly decompressor = new HeaderDecompressor();
  private readonly streams = new Map<number, SpdyStream>();
  private readonly full = new Set<SpdyStream>();
  private readonly queue: Frame[] = [];
  private drainWaiters: ((err?: Error | null) => void)[] = [];
  private processing = false;
  private lastRemoteId = 0;
  private nextId: number;
  private goneAway = false;
  private closing = false;
  closed = false;

  constructor(
    readonly socket: Socket,
    private readonly opts: SpdyConnectionOptions,
    head?: Buffer,
  ) {
    super();
    this.nextId = opts.server ? 2 : 1;
    socket.setNoDelay(true);
    socket.on('data', (b: Buffer) => this.onData(b));
    socket.on('drain', () => this.flushWaiters());
    socket.on('error', () => socket.destroy());
    socket.on('end', () => socket.end());
    socket.on('close', () => this.onClose());
    if (head && head.length > 0) this.onData(head);
  }

  /** Opens a stream (the client side's way to begin). */
  openStream(headers: SpdyHeaders, fin = false): SpdyStream {
    if (this.closed || this.goneAway) throw new Error('SPDY connection is closed');
    const s = new SpdyStream(this, this.nextId, headers);
    this.nextId += 2;
    this.streams.set(s.id, s);
    this.socket.write(synStreamFrame(s.id, this.compressor.compress(headers), fin ? FLAG_FIN : 0));
    if (fin) {
      s.localEnded = true;
      s.end();
    }
    return s;
  }

  /** GOAWAY, then the socket's end once what is queued is written. */
  close(): void {
    if (this.closing || this.closed) return;
    this.closing = true;
    this.socket.write(goAwayFrame(this.lastRemoteId));
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  sendData(s: SpdyStream, chunk: Buffer, fin: boolean, cb: (err?: Error | null) => void): void {
    // a peer that has gone or reset the stream drops what is written, as a closed pipe's reader would
    if (this.closed || s.reset || s.localEnded || this.socket.destroyed) return cb();
    let ok = true;
    if (chunk.length === 0) ok = this.socket.write(dataFrame(s.id, EMPTY, fin));
    for (let at = 0; at < chunk.length; at += DATA_CHUNK) {
      const last = at + DATA_CHUNK >= chunk.length;
      ok = this.socket.write(dataFrame(s.id, chunk.subarray(at, at + DATA_CHUNK), fin && last));
    }
    if (fin) {
      s.localEnded = true;
      this.forgetIfDone(s);
    }
    if (ok) cb();
    else this.drainWaiters.push(cb);
  }

  resumeStream(s: SpdyStream): void {
    if (this.full.delete(s)) this.updatePause();
  }

  /** A stream destroyed on this side: the peer is told (RST_STREAM CANCEL) unless it had finished. */
  dropStream(s: SpdyStream): void {
    if (this.streams.get(s.id) === s) {
      this.streams.delete(s.id);
      if (!this.closed && !s.reset && !(s.localEnded && s.remoteEnded)) this.socket.write(rstStreamFrame(s.id, RstStatus.Cancel));
    }
    if (this.full.delete(s)) this.updatePause();
  }

  private forgetIfDone(s: SpdyStream): void {
    if (s.localEnded && s.remoteEnded && this.streams.get(s.id) === s) this.streams.delete(s.id);
  }

  private flushWaiters(err?: Error): void {
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const cb of w) cb(err);
  }

  private updatePause(): void {
    if (this.closed) return;
    if (this.full.size > 0 || this.queue.length > MAX_QUEUED_FRAMES) this.socket.pause();
    else this.socket.resume();
  }

  private onData(b: Buffer): void {
    try {
      this.queue.push(...this.reader.push(b));
    } catch {
      this.socket.destroy(); // a frame longer than SPDY allows: not a peer to talk to
      return;
    }
    this.updatePause();
    void this.run();
  }

  private async run(): Promise<void> {
    if (this.processing) return;
    this.processing = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        const pending = this.handle(this.queue.shift()!);
        if (pending) await pending;
      }
    } catch {
      this.socket.destroy(); // a broken header block desynchronizes the zlib context for good
    } finally {
      this.processing = false;
      this.updatePause();
    }
  }

  private handle(f: Frame): Promise<void> | undefined {
    if (f.kind === 'data') return this.onDataFrame(f.streamId, f.flags, f.data);
    switch (f.type) {
      case FrameType.SynStream:
        return this.onSynStream(f.flags, f.payload);
      case FrameType.SynReply:
      case FrameType.Headers:
        return this.onHeaders(f.type, f.flags, f.payload);
      case FrameType.RstStream: {
        const [id] = readWords(f.payload, 2);
        const s = this.streams.get(id! & 0x7fffffff);
        if (s) {
          s.reset = true;
          this.streams.delete(s.id);
          s.rejectReply(new Error('stream reset by peer'));
          s.destroy();
        }
        return undefined;
      }
      case FrameType.Ping: {
        const [id] = readWords(f.payload, 1);
        // the peer's own pings have the other parity: answer those, ours come back as replies
        if ((id! & 1) === (this.opts.server ? 1 : 0)) this.socket.write(pingFrame(id!));
        return undefined;
      }
      case FrameType.GoAway:
        this.goneAway = true;
        return undefined;
      default:
        return undefined; // SETTINGS, WINDOW_UPDATE: nothing kept (see the class comment)
    }
  }

  private onDataFrame(id: number, flags: number, data: Buffer): undefined {
    const s = this.streams.get(id);
    if (!s || s.remoteEnded) return undefined;
    if (data.length > 0 && !s.push(data)) this.full.add(s);
    if (flags & FLAG_FIN) this.remoteFin(s);
    return undefined;
  }

  private remoteFin(s: SpdyStream): void {
    if (s.remoteEnded) return;
    s.remoteEnded = true;
    s.push(null);
    this.forgetIfDone(s);
  }

  private async onSynStream(flags: number, payload: Buffer): Promise<void> {
    const { streamId, block } = readSynStream(payload);
    // every block goes through the inflater, taken or not: the next ones build on it
    const headers = await this.decompressor.decompress(block);
    const expectedParity = this.opts.server ? 1 : 0;
    if (streamId <= this.lastRemoteId || (streamId & 1) !== expectedParity) {
      this.socket.write(rstStreamFrame(streamId, RstStatus.ProtocolError));
      return;
    }
    this.lastRemoteId = streamId;
    if (this.goneAway || this.closing || this.streams.size >= MAX_STREAMS) {
      this.socket.write(rstStreamFrame(streamId, RstStatus.RefusedStream));
      return;
    }
    const refusal = this.opts.accept?.(headers);
    if (refusal !== undefined) {
      // as kubelet's server: a reply that finishes the stream at once
      this.socket.write(synReplyFrame(streamId, this.compressor.compress({}), true));
      return;
    }
    const s = new SpdyStream(this, streamId, headers);
    this.streams.set(streamId, s);
    this.socket.write(synReplyFrame(streamId, this.compressor.compress({}), false));
    if (flags & FLAG_FIN) this.remoteFin(s);
    this.emit('stream', s);
  }

  private async onHeaders(type: number, flags: number, payload: Buffer): Promise<void> {
    const { streamId, block } = readStreamHeaders(payload);
    const headers = await this.decompressor.decompress(block);
    const s = this.streams.get(streamId);
    if (!s) return;
    if (type === FrameType.SynReply) s.resolveReply(headers);
    if (flags & FLAG_FIN) this.remoteFin(s);
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.decompressor.close();
    this.flushWaiters();
    for (const s of this.streams.values()) {
      s.localEnded = true;
      s.rejectReply(new Error('SPDY connection closed'));
      if (!s.remoteEnded) {
        s.remoteEnded = true;
        s.push(null);
      }
    }
    this.streams.clear();
    this.full.clear();
    this.emit('close');
  }
}
