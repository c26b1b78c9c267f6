import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { CriDeps } from '../deps.js';
import type { Sandboxes } from '../sandboxes.js';

/** What a streaming URL grants: one exec, attach or port-forward session. */
export interface StreamRequest {
  kind: 'exec' | 'attach' | 'portforward';
  /** Container id (exec, attach) or sandbox id (portforward). */
  id: string;
  cmd: string[];
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

/** How long a URL stays valid, as kubelet's streaming server (1 minute). */
const TOKEN_TTL_MS = 60_000;
const MAX_PENDING = 1000;

/**
 * The local HTTP listener that Exec/Attach/PortForward URLs point at: a single-use token
 * per URL (`/exec/<token>`), upgraded to SPDY/3.1 with kubelet's stream protocols.
 */
export class StreamingServer {
  private server: Server | undefined;
  private base = '';
  private readonly pending = new Map<string, { req: StreamRequest; expires: number }>();
  private readonly sockets = new Set<Socket>();

  constructor(
    readonly d: CriDeps,
    readonly sandboxes: Sandboxes,
  ) {}

  async listen(addr: { host: string; port: number }): Promise<void> {
    const server = createServer((req, res) => {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end('streaming needs an upgrade (SPDY/3.1)\n');
    });
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.upgrade(req, socket, head));
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(addr.port, addr.host, () => resolve());
    });
    this.server = server;
    const a = server.address() as AddressInfo;
    this.base = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  /** Registers a session and returns its URL. */
  offer(req: StreamRequest): string {
    const now = Date.now();
    for (const [k, v] of this.pending) if (v.expires < now) this.pending.delete(k);
    if (this.pending.size >= MAX_PENDING) throw new Error('too many pending streaming requests');
    const token = randomBytes(12).toString('base64url');
    this.pending.set(token, { req, expires: now + TOKEN_TTL_MS });
    return `${this.base}/${req.kind}/${token}`;
  }

  /** Takes (once) the session a path's token grants. */
  take(path: string): StreamRequest | undefined {
    const m = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]+)/.exec(path);
    if (!m) return undefined;
    const p = this.pending.get(m[2]!);
    this.pending.delete(m[2]!);
    if (!p || p.expires < Date.now() || p.req.kind !== m[1]) return undefined;
    return p.req;
  }

  protected upgrade(req: IncomingMessage, socket: Socket, _head: Buffer): void {
    socket.on('error', () => undefined);
    socket.end('HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\n\r\n');
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
