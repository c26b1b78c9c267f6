import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { Opcode, WsMessageReader, wsFrame } from './websocket-frames.js';

/** The largest message taken from the peer (stdin arrives in pieces far smaller). */
const MAX_MESSAGE = 4 * 1024 * 1024;
const CHUNK = 32 * 1024;

export interface WsChannelOptions {
  /** `base64.channel.k8s.io`: text messages, the channel as an ASCII digit, the data in base64. */
  base64: boolean;
  /** The channels the peer writes to (kubelet's server reads stdin 0 and resize 4). */
  readChannels: number[];
  /** The client side masks what it sends. */
  mask?: boolean;
}

/**
 * kubelet's WebSocket channel protocol (`channel.k8s.io` and its v4 and base64 forms) over an
 * upgraded socket: every message starts with its channel number (stdin 0, stdout 1, stderr 2,
 * error 3, resize 4). Channels are Node streams, bytes as they are (base64 only on the wire);
 * reading pauses the socket while a channel's reader is behind, and writing waits for the socket
 * to drain. Channels have no end of their own: they end with the connection. Emits 'close'.
 */
export class WsChannelConnection extends EventEmitter {
  private readonly reader = new WsMessageReader(MAX_MESSAGE);
  private readonly readers = new Map<number, Readable>();
  private readonly full = new Set<number>();
  private drainWaiters: (() => void)[] = [];
  private closeSent = false;
  closed = false;

  constructor(
    readonly socket: Socket,
    private readonly opts: WsChannelOptions,
    head?: Buffer,
  ) {
    super();
    for (const ch of opts.readChannels) {
      this.readers.set(
        ch,
        new Readable({
          highWaterMark: 256 * 1024,
          read: () => {
            if (this.full.delete(ch) && this.full.size === 0 && !this.closed) this.socket.resume();
          },
        }),
      );
    }
    socket.setNoDelay(true);
    socket.on('data', (b: Buffer) => this.onData(b));
    socket.on('drain', () => this.flushWaiters());
    socket.on('error', () => socket.destroy());
    socket.on('end', () => socket.end());
    socket.on('close', () => this.onClose());
    if (head && head.length > 0) this.onData(head);
  }

  /** What the peer sends on a channel. */
  readable(ch: number): Readable | undefined {
    return this.readers.get(ch);
  }

  /** A channel to send on; ending it sends nothing (the protocol has no per-channel end). */
  writable(ch: number): Writable {
    const w = new Writable({ highWaterMark: 64 * 1024, write: (chunk: Buffer, _enc, cb) => this.send(ch, chunk, cb) });
    w.on('error', () => undefined);
    return w;
  }

  /** One message per piece of `data` (an empty `data` still sends the channel's empty message). */
  send(ch: number, data: Buffer, cb: () => void = () => undefined): void {
    if (this.closed || this.closeSent) return cb();
    let ok = true;
    let at = 0;
    do {
      const part = data.subarray(at, at + CHUNK);
      ok = this.socket.write(this.opts.base64 ? wsFrame(Opcode.Text, Buffer.from(String.fromCharCode(48 + ch) + part.toString('base64'), 'latin1'), this.opts.mask) : wsFrame(Opcode.Binary, Buffer.concat([Buffer.from([ch]), part]), this.opts.mask));
      at += CHUNK;
    } while (at < data.length);
    if (ok) cb();
    else this.drainWaiters.push(cb);
  }

  /** The closing handshake's first half (1000, normal), then the socket's end. */
  close(): void {
    if (this.closed || this.closeSent) return;
    this.closeSent = true;
    const code = Buffer.alloc(2);
    code.writeUInt16BE(1000);
    this.socket.end(wsFrame(Opcode.Close, code, this.opts.mask));
  }

  private flushWaiters(): void {
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const cb of w) cb();
  }

  private onData(b: Buffer): void {
    let messages;
    try {
      messages = this.reader.push(b);
    } catch {
      this.socket.destroy(); // over the limits: not a peer to talk to
      return;
    }
    for (const m of messages) {
      if (m.opcode === Opcode.Ping) this.socket.write(wsFrame(Opcode.Pong, m.data, this.opts.mask));
      else if (m.opcode === Opcode.Close) {
        if (!this.closeSent) {
          this.closeSent = true;
          this.socket.end(wsFrame(Opcode.Close, m.data.subarray(0, 2), this.opts.mask));
        }
      } else if (m.opcode === Opcode.Binary || m.opcode === Opcode.Text) this.onMessage(m.data);
    }
  }

  private onMessage(data: Buffer): void {
    if (data.length === 0) return;
    const ch = this.opts.base64 ? data[0]! - 48 : data[0]!;
    const r = this.readers.get(ch);
    if (!r) return; // a channel this side does not read: dropped, as kubelet does
    const body = this.opts.base64 ? Buffer.from(data.subarray(1).toString('latin1'), 'base64') : data.subarray(1);
    if (body.length > 0 && !r.push(body)) {
      this.full.add(ch);
      this.socket.pause();
    }
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.flushWaiters();
    for (const r of this.readers.values()) r.push(null);
    this.full.clear();
    this.emit('close');
  }
}
