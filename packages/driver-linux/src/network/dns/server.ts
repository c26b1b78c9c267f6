import { createSocket, type Socket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { buildFormatError, buildResponse, CLASS_IN, parseQuery, RCODE_NOERROR, RCODE_SERVFAIL, TYPE_A } from './wire.js';

/** Where the names come from: the network manager's attachments. */
export interface DnsNameSource {
  /**
   * The IPv4 addresses `name` has for a client at `clientIp` that asked the listener on
   * `serverIp`; `undefined` when the name is not a container's (it is then forwarded).
   */
  lookup(serverIp: string, clientIp: string, name: string): string[] | undefined;
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

/**
 * Docker's embedded DNS, host side: one UDP socket per listening address (the gateway of
 * each user network with containers), answering A queries for container names and
 * aliases from `names` and forwarding everything else to the host's nameservers (raw
 * packets; the upstream's answer is relayed as is). Sockets exist only while asked for,
 * so a daemon with no user network containers holds none.
 */
export class EmbeddedDns {
  private readonly sockets = new Map<string, Socket>();
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
    for (const [ip, s] of this.sockets) {
      if (!wanted.has(ip)) {
        this.sockets.delete(ip);
        s.close();
      }
    }
    for (const ip of wanted) {
      if (this.sockets.has(ip)) continue;
      if (!this.upstreams) this.upstreams = await hostNameservers();
      try {
        this.sockets.set(ip, await this.open(ip));
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
        s.on('message', (msg, rinfo) => this.answer(s, ip, msg, rinfo.address, rinfo.port));
        s.unref(); // the daemon's lifetime is not ours to extend
        resolve(s);
      });
    });
  }

  private answer(s: Socket, serverIp: string, msg: Buffer, clientIp: string, clientPort: number): void {
    const send = (b: Buffer | undefined) => {
      if (b) s.send(b, clientPort, clientIp);
    };
    const q = parseQuery(msg);
    if (!q) {
      send(buildFormatError(msg));
      return;
    }
    const ips = q.qclass === CLASS_IN && q.name ? this.options.names.lookup(serverIp, clientIp, q.name) : undefined;
    if (ips && ips.length > 0) {
      // A container's name: A records; any other type (AAAA...) has no data (NOERROR, no answer) as with Docker.
      send(buildResponse(msg, q, RCODE_NOERROR, q.type === TYPE_A ? shuffle(ips) : []));
      return;
    }
    if (this.inFlight >= MAX_IN_FLIGHT) {
      send(buildResponse(msg, q, RCODE_SERVFAIL));
      return;
    }
    this.inFlight++;
    void this.forward(msg)
      .then((reply) => send(reply ?? buildResponse(msg, q, RCODE_SERVFAIL)))
      .finally(() => this.inFlight--);
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
export async function hostNameservers(path = '/etc/resolv.conf'): Promise<string[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+([0-9a-fA-F.:]+)\s*$/.exec(line);
    if (m?.[1]) out.push(m[1]);
  }
  return out;
}

function shuffle<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}
