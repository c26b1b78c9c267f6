import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { encodeLiterals, HpackDecoder, type HeaderField } from './hpack.js';

const PREFACE_LENGTH = 24;
const HEADERS = 0x1;
const CONTINUATION = 0x9;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
/** SETTINGS_MAX_FRAME_SIZE's default: the server never raises it, so no frame we send is larger. */
const MAX_FRAME = 16384;
/** What a header block may grow to across CONTINUATION frames before the connection is refused. */
const MAX_BLOCK = 1024 * 1024;
/** RFC 3986 authority characters: what Node's HTTP/2 (nghttp2) accepts in `:authority`. */
const AUTHORITY = /^[A-Za-z0-9\-._~!$&'()*+,;=:@[\]%]*$/;
const LOCALHOST = Buffer.from('localhost');

/**
 * A unix-socket connection to the CRI server with the client's `:authority` made valid.
 * Go's gRPC as kubelet, crictl and critest 1.26 use it sends the socket's path as the
 * authority ("/run/berth/cri.sock"), which Node's HTTP/2 refuses with a stream reset
 * (PROTOCOL_ERROR) before gRPC sees the call. The client's header blocks are decoded
 * (its HPACK dynamic table tracked), a bad authority becomes `localhost` (what newer
 * gRPC clients send on unix sockets), and each block goes on as literals; every other
 * frame and the server's whole direction pass as they are.
 */
export class AuthorityFixingConnection extends Duplex {
  private pending: Buffer = Buffer.alloc(0);
  private prefaceSeen = false;
  private readonly decoder = new HpackDecoder();
  /** A HEADERS frame waiting for its CONTINUATIONs. */
  private open: { stream: number; flags: number; priority: Buffer; fragments: Buffer[]; size: number } | undefined;

  constructor(private readonly socket: Socket) {
    super();
    socket.on('data', (chunk: Buffer) => {
      try {
        this.fromClient(chunk);
      } catch (err) {
        this.destroy(err as Error);
      }
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.socket.write(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end(cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.socket.destroy();
    cb(err);
  }

  // Node's http2 over a JS stream asks for these (as a net.Socket has them)
  setNoDelay(v?: boolean): this {
    this.socket.setNoDelay(v);
    return this;
  }

  setKeepAlive(enable?: boolean, delay?: number): this {
    this.socket.setKeepAlive(enable, delay);
    return this;
  }

  setTimeout(ms: number, cb?: () => void): this {
    this.socket.setTimeout(ms, cb);
    return this;
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  private forward(buf: Buffer): void {
    if (!this.push(buf)) this.socket.pause();
  }

  private fromClient(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    if (!this.prefaceSeen) {
      if (this.pending.length < PREFACE_LENGTH) return;
      this.forward(this.pending.subarray(0, PREFACE_LENGTH));
      this.pending = this.pending.subarray(PREFACE_LENGTH);
      this.prefaceSeen = true;
    }
    let passStart = 0;
    let pos = 0;
    while (this.pending.length - pos >= 9) {
      const len = this.pending.readUIntBE(pos, 3);
      if (this.pending.length - pos < 9 + len) break;
      const type = this.pending[pos + 3]!;
      if (type === HEADERS || type === CONTINUATION || this.open) {
        if (pos > passStart) this.forward(this.pending.subarray(passStart, pos));
        this.headerFrame(type, this.pending[pos + 4]!, this.pending.readUInt32BE(pos + 5) & 0x7fffffff, this.pending.subarray(pos + 9, pos + 9 + len));
        passStart = pos + 9 + len;
      }
      pos += 9 + len;
    }
    // whole frames other than headers go on at once; a partial frame waits for its rest
    if (pos > passStart) this.forward(this.pending.subarray(passStart, pos));
    this.pending = this.pending.subarray(pos);
    if (this.pending.length > 0) this.pending = Buffer.from(this.pending); // let the big chunk go
  }

  private headerFrame(type: number, flags: number, stream: number, payload: Buffer): void {
    if (type === HEADERS) {
      if (this.open) throw new Error('http2: HEADERS inside a header block');
      let p = 0;
      let end = payload.length;
      if (flags & PADDED) {
        end -= payload[0]!;
        p = 1;
      }
      const priority = flags & PRIORITY ? payload.subarray(p, p + 5) : Buffer.alloc(0);
      p += priority.length;
      if (end < p) throw new Error('http2: bad HEADERS padding');
      this.open = { stream, flags, priority, fragments: [payload.subarray(p, end)], size: end - p };
    } else if (type === CONTINUATION && this.open && this.open.stream === stream) {
      this.open.fragments.push(payload);
      this.open.size += payload.length;
      if (this.open.size > MAX_BLOCK) throw new Error('http2: header block too large');
    } else {
      throw new Error('http2: a header block was interrupted');
    }
    if (flags & END_HEADERS) this.finishBlock();
  }

  private finishBlock(): void {
    const { stream, flags, priority, fragments } = this.open!;
    this.open = undefined;
    const fields = this.decoder.decode(Buffer.concat(fragments)).map(fixAuthority);
    const block = encodeLiterals(fields);
    const firstRoom = MAX_FRAME - priority.length;
    const frames: Buffer[] = [];
    let rest = block;
    let first = true;
    do {
      const room = first ? firstRoom : MAX_FRAME;
      const part = rest.subarray(0, room);
      rest = rest.subarray(part.length);
      const last = rest.length === 0;
      const header = Buffer.alloc(9);
      const body = first ? Buffer.concat([priority, part]) : part;
      header.writeUIntBE(body.length, 0, 3);
      header[3] = first ? HEADERS : CONTINUATION;
      header[4] = (first ? flags & (END_STREAM | PRIORITY) : 0) | (last ? END_HEADERS : 0);
      header.writeUInt32BE(stream, 5);
      frames.push(header, body);
      first = false;
    } while (rest.length > 0);
    this.forward(Buffer.concat(frames));
  }
}

function fixAuthority(f: HeaderField): HeaderField {
  const name = f.name.toString('latin1');
  if ((name === ':authority' || name === 'host') && !AUTHORITY.test(f.value.toString('latin1'))) return { ...f, value: LOCALHOST };
  return f;
}
