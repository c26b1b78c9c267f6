import { createSocket, type Socket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket as TcpSocket } from 'node:net';
import { buildFormatError, buildPtrResponse, buildResponse, CLASS_IN, parseQuery, RCODE_NOERROR, RCODE_SERVFAIL, reverseName, TYPE_A, TYPE_PTR, UDP_LIMIT } from './wire.js';

/** Where the names come from: the network manager's attachments. */
export interface DnsNameSource {
  /**
   * The IPv4 addresses `name` has for a client at `clientIp` that asked the listener on
   * `serverIp`; `undefined` when the name is not a container's (it is then forwarded).
   */
  lookup(serverIp: string, clientIp: string, name: string): string[] | undefined;
  /** False when the asker must not reach the upstream nameservers (a container only on internal networks). */
  mayForward?(serverIp: string, clientIp: string): boolean;
  /** The name (`container.network`) of a container's address for a PTR question, if the asker may see it. */
  reverse?(serverIp: string, clientIp: string, ip: string): string | undefined;
}

export interface EmbeddedDnsOptions {
  names: DnsNameSource;
  /** Nameservers to forward other names to. Default: the host's /etc/resolv.conf, read when the first listener opens. */
  upstreams?: string[];
  /** Per upstream try. Default 2000 ms. */
  forwardTimeoutMs?: number;
  /** Default 53. */
  port?: number;
}

const MAX_IN_FLIGHT = 256;
/** A TCP client idle this long is dropped (RFC 7766 suggests seconds). */
const TCP_IDLE_MS = 10_000;

interface Listener {
  udp: Socket;
  /** For answers too big for UDP (TC set upstream): clients retry over TCP. */
  tcp?: Server;
}

/**
 * Docker's embedded DNS, host side: one UDP socket per listening address (the gateway of
 * each user network with containers), answering A queries for container names and
 * aliases from `names` and forwarding everything else to the host's nameservers (raw
 * packets; the upstream's answer is relayed as is). Sockets exist only while asked for,
 * so a daemon with no user network containers holds none.
 */
export class EmbeddedDns {
  private readonly sockets = new Map<string, Listener>();
  private readonly failures = new Map<string, string>();
  private upstreams: string[] | undefined;
  private inFlight = 0;
  private readonly port: number;
  private readonly timeoutMs: number;

  constructor(private readonly options: EmbeddedDnsOptions) {
    this.port = options.port ?? 53;
    this.timeoutMs = options.forwardTimeoutMs ?? 2000;
    if (options.upstreams) this.upstreams = [...options.upstreams];
  }

  /** The addresses served now. */
  listening(): string[] {
    return [...this.sockets.keys()];
  }

  /** Why an address could not be served (bind error), if it could not. */
  failure(ip: string): string | undefined {
    return this.failures.get(ip);
  }

  /** Opens a listener on each of `ips` not served yet and closes the others. A failed bind is recorded, not thrown. */
  async serve(ips: Iterable<string>): Promise<void> {
    const wanted = new Set(ips);
    for (const [ip, l] of this.sockets) {
      if (!wanted.has(ip)) {
        this.sockets.delete(ip);
        l.udp.close();
        l.tcp?.close();
      }
    }
    for (const ip of wanted) {
      if (this.sockets.has(ip)) continue;
      if (!this.upstreams) this.upstreams = await hostNameservers();
      try {
        const udp = await this.open(ip);
        // TCP is the fallback: a failed bind leaves UDP serving.
        const tcp = await this.openTcp(ip).catch(() => undefined);
        this.sockets.set(ip, { udp, ...(tcp ? { tcp } : {}) });
        this.failures.delete(ip);
      } catch (e) {
        this.failures.set(ip, (e as Error).message);
      }
    }
  }

  close(): void {
    void this.serve([]);
  }

  private open(ip: string): Promise<Socket> {
    return new Promise((resolve, reject) => {
      // reuseAddr: a host resolver bound to 0.0.0.0:53 (with SO_REUSEADDR) does not stop us.
      const s = createSocket({ type: 'udp4', reuseAddr: true });
      const onError = (e: Error) => {
        s.close();
        reject(e);
      };
      s.once('error', onError);
      s.bind(this.port, ip, () => {
        s.off('error', onError);
        s.on('error', () => undefined); // per-datagram send errors (client gone) are not fatal
        s.on('message', (msg, rinfo) => {
          void this.respond(ip, msg, rinfo.address, 'udp').then((b) => {
            if (b) s.send(b, rinfo.port, rinfo.address);
          });
        });
        s.unref(); // the daemon's lifetime is not ours to extend
        resolve(s);
      });
    });
  }

  private openTcp(ip: string): Promise<Server> {
    return new Promise((resolve, reject) => {
      const server = createServer((conn) => this.serveTcp(conn, ip));
      server.once('error', reject);
      server.listen({ port: this.port, host: ip, exclusive: true }, () => {
        server.off('error', reject);
        server.on('error', () => undefined);
        server.unref();
        resolve(server);
      });
    });
  }

  /** RFC 1035 4.2.2: each message behind a two-byte length; several per connection. */
  private serveTcp(conn: TcpSocket, serverIp: string): void {
    conn.setTimeout(TCP_IDLE_MS, () => conn.destroy());
    conn.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    conn.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = Buffer.from(buf.subarray(2, 2 + len));
        buf = buf.subarray(2 + len);
        void this.respond(serverIp, msg, conn.remoteAddress ?? '', 'tcp').then((b) => {
          if (b && !conn.destroyed) conn.write(frame(b));
        });
      }
    });
  }

  /** The answer to one message: a container's name here, anything else from upstream. */
  private async respond(serverIp: string, msg: Buffer, clientIp: string, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    const q = parseQuery(msg);
    if (!q) return buildFormatError(msg);
    const ips = q.qclass === CLASS_IN && q.name ? this.options.names.lookup(serverIp, clientIp, q.name) : undefined;
    const ptrOf = q.type === TYPE_PTR && q.qclass === CLASS_IN ? reverseName(q.name) : undefined;
    const target = ptrOf ? this.options.names.reverse?.(serverIp, clientIp, ptrOf) : undefined;
    if (target) return buildPtrResponse(msg, q, target);
    if (ips && ips.length > 0) {
      // A container's name: A records; any other type (AAAA...) has no data (NOERROR, no answer) as with Docker.
      return buildResponse(msg, q, RCODE_NOERROR, q.type === TYPE_A ? shuffle(ips) : [], 600, transport === 'udp' ? UDP_LIMIT : undefined);
    }
    if (this.inFlight >= MAX_IN_FLIGHT || this.options.names.mayForward?.(serverIp, clientIp) === false) return buildResponse(msg, q, RCODE_SERVFAIL);
    this.inFlight++;
    try {
      return (await (transport === 'udp' ? this.forward(msg) : this.forwardTcp(msg))) ?? buildResponse(msg, q, RCODE_SERVFAIL);
    } finally {
      this.inFlight--;
    }
  }

  /** Over TCP to the upstreams in turn (a client asks over TCP when the UDP answer was truncated). */
  private async forwardTcp(msg: Buffer): Promise<Buffer | undefined> {
    for (const server of (this.upstreams ?? []).slice(0, 3)) {
      const reply = await new Promise<Buffer | undefined>((resolve) => {
        const c = connect({ host: server, port: 53 });
        let buf = Buffer.alloc(0);
        const done = (b: Buffer | undefined) => {
          clearTimeout(timer);
          c.destroy();
          resolve(b);
        };
        const timer = setTimeout(() => done(undefined), this.timeoutMs);
        c.on('error', () => done(undefined));
        c.on('close', () => done(undefined));
        c.on('connect', () => c.write(frame(msg)));
        c.on('data', (d: Buffer) => {
          buf = Buffer.concat([buf, d]);
          if (buf.length > 2 + 65535) done(undefined);
          else if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) done(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        });
      });
      if (reply && reply.length >= 12 && reply.readUInt16BE(0) === msg.readUInt16BE(0)) return reply;
    }
    return undefined;
  }

  /** The first upstream answer within the timeout of each try; undefined when none answers. */
  private async forward(msg: Buffer): Promise<Buffer | undefined> {
    for (const server of (this.upstreams ?? []).slice(0, 3)) {
      const reply = await new Promise<Buffer | undefined>((resolve) => {
        const c = createSocket(server.includes(':') ? 'udp6' : 'udp4');
        const done = (b: Buffer | undefined) => {
          clearTimeout(timer);
          c.close();
          resolve(b);
        };
        const timer = setTimeout(() => done(undefined), this.timeoutMs);
        c.on('error', () => done(undefined));
        c.on('message', (b, r) => {
          // Only the server asked, and only an answer to this question's id.
          if (r.address === server && b.length >= 12 && b.readUInt16BE(0) === msg.readUInt16BE(0)) done(b);
        });
        c.send(msg, 53, server);
      });
      if (reply) return reply;
    }
    return undefined;
  }
}

/** The nameservers of the host's /etc/resolv.conf (loopback ones too: we run on the host). */
async function hostNameservers(path = '/etc/resolv.conf'): Promise<string[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+([0-9a-fA-F.:]+)\s*$/.exec(line);
    if (m?.[1]) out.push(m[1]);
  }
  return out;
}

function frame(msg: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(msg.length, 0);
  return Buffer.concat([len, msg]);
}

function shuffle<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}
