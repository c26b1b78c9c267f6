/**
 * Hyper-V sockets in process, for Linux: the host listens on (VM id, service id) through
 * the same HvsockTransport interface ws2_32 gives it on Windows, and the simulated guest
 * connects out, as the LCOW GCS and its stdio relays do. Each connection is a pair of
 * Duplexes with backpressure (a write completes only when the peer has room), and a write
 * may be cut into pieces of `chunk` bytes, so framing is exercised as on a real socket.
 */
import { Duplex } from 'node:stream';
import { HRESULT, HcsError } from '../hresult.js';
import type { HvsockListener, HvsockTransport } from '../gcs/messages.js';

class End extends Duplex {
  peer!: End;
  private blocked: (() => void) | undefined;

  constructor(private readonly chunk: number) {
    super({ allowHalfOpen: true });
  }

  override _write(data: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.peer.destroyed) return cb(new Error('hvsock: connection reset by peer'));
    let ok = true;
    for (let off = 0; off < data.length; off += this.chunk) ok = this.peer.push(data.subarray(off, off + this.chunk));
    if (ok) cb();
    else this.peer.blocked = cb;
  }

  override _read(): void {
    const b = this.blocked;
    this.blocked = undefined;
    b?.();
  }

  override _final(cb: (e?: Error | null) => void): void {
    if (!this.peer.destroyed) this.peer.push(null);
    cb();
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    // a socket closed under its peer: the peer reads the end (and its writes fail)
    if (!this.peer.destroyed && !this.peer.readableEnded) this.peer.push(null);
    const b = this.peer.blocked;
    this.peer.blocked = undefined;
    b?.();
    cb(err);
  }
}

/** Two connected ends. */
export function duplexPair(chunk = 64 * 1024): [Duplex, Duplex] {
  const a = new End(chunk);
  const b = new End(chunk);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

interface Listening {
  queue: Duplex[];
  waiters: { resolve: (d: Duplex) => void; reject: (e: Error) => void }[];
}

export class SimHvsock implements HvsockTransport {
  private readonly listeners = new Map<string, Listening>();

  /** @param chunk the most bytes one write moves at a time (small values cut every frame). */
  constructor(readonly chunk = 64 * 1024) {}

  private static key(vmId: string, serviceId: string): string {
    return `${vmId}/${serviceId}`.toLowerCase();
  }

  async listen(address: { vmId: string; serviceId: string }): Promise<HvsockListener> {
    const key = SimHvsock.key(address.vmId, address.serviceId);
    // WSAEADDRINUSE
    if (this.listeners.has(key)) throw new HcsError(HRESULT.ERROR_ALREADY_EXISTS, 'bind', `hvsock ${key} is already bound`);
    const l: Listening = { queue: [], waiters: [] };
    this.listeners.set(key, l);
    return {
      accept: () => {
        const ready = l.queue.shift();
        if (ready) return Promise.resolve(ready);
        if (this.listeners.get(key) !== l) return Promise.reject(new Error(`hvsock ${key}: the listener is closed`));
        return new Promise<Duplex>((resolve, reject) => l.waiters.push({ resolve, reject }));
      },
      close: async () => {
        if (this.listeners.get(key) === l) this.listeners.delete(key);
        for (const w of l.waiters.splice(0)) w.reject(new Error(`hvsock ${key}: the listener is closed`));
        for (const d of l.queue.splice(0)) d.destroy();
      },
    };
  }

  /** The guest's side: connect to what the host listens on; refused (WSAECONNREFUSED) when nothing does. */
  connect(vmId: string, serviceId: string): Duplex {
    const l = this.listeners.get(SimHvsock.key(vmId, serviceId));
    if (!l) throw new HcsError(HRESULT.HCS_E_CONNECT_FAILED, 'connect', `nothing listens on hvsock ${vmId}/${serviceId}`);
    const [host, guest] = duplexPair(this.chunk);
    const w = l.waiters.shift();
    if (w) w.resolve(host);
    else l.queue.push(host);
    return guest;
  }

  /** Whether the host listens on (vmId, serviceId). */
  listening(vmId: string, serviceId: string): boolean {
    return this.listeners.has(SimHvsock.key(vmId, serviceId));
  }
}
