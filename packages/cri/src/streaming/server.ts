import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { CriDeps } from '../deps.js';
import type { Sandboxes } from '../sandboxes.js';
import { runAttach, runExec } from './container-io.js';
import { acceptSpdyUpgrade, negotiateProtocol, refuseUpgrade, wantsSpdy } from './handshake.js';
import { NetnsDialer, dialHost } from './netns-dial.js';
import { PORT_FORWARD_PROTOCOLS, screenPortForwardStream, servePortForward } from './port-forward.js';
import { REMOTE_COMMAND_PROTOCOLS, serveRemoteCommand, type RunOutcome, type SessionStreams } from './remote-command.js';
import { portsOf, serveWebSocketPortForward } from './websocket-port-forward.js';
import { isWebSocketRequest, serveWebSocketRemoteCommand } from './websocket-session.js';
import { SpdyConnection } from './spdy-connection.js';

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
  /** PortForward's ports (a WebSocket port-forward without a `port` query serves these). */
  ports?: number[];
}

/** How long a URL stays valid, as kubelet's streaming server (1 minute). */
const TOKEN_TTL_MS = 60_000;
const MAX_PENDING = 1000;
/** A streaming connection with no traffic either way for this long is closed (kubelet's and containerd's default). */
const STREAM_IDLE_TIMEOUT_MS = 4 * 60 * 60 * 1000;

/**
 * The local HTTP listener that Exec/Attach/PortForward URLs point at: a single-use token
 * per URL (`/exec/<token>`), upgraded to SPDY/3.1 with kubelet's stream protocols, or to a
 * WebSocket with its channel protocols.
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

  protected upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    socket.setTimeout(STREAM_IDLE_TIMEOUT_MS, () => socket.destroy());
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const websocket = isWebSocketRequest(req);
    if (!websocket && !wantsSpdy(req)) return refuseUpgrade(socket, 400, 'Bad Request', 'unable to upgrade: missing upgrade headers in request (SPDY/3.1 or websocket)');
    const sr = this.take(path);
    if (!sr) return refuseUpgrade(socket, 404, 'Not Found', 'streaming token not found or expired');
    const run = (s: SessionStreams): Promise<RunOutcome> => (sr.kind === 'exec' ? runExec(this.d, sr.id, sr.cmd, sr.tty, s) : runAttach(this.d, sr.id, s));
    const opts = { stdin: sr.stdin, stdout: sr.stdout, stderr: sr.stderr, tty: sr.tty };
    if (websocket) {
      if (sr.kind === 'portforward') {
        const ports = portsOf(req, sr.ports ?? []);
        if (typeof ports === 'string') return refuseUpgrade(socket, 400, 'Bad Request', ports);
        const dialer = this.podDialer(sr.id);
        serveWebSocketPortForward(req, socket, head, ports, (port) => dialer.dial(port), sr.id);
        socket.once('close', () => dialer.close());
        return;
      }
      void serveWebSocketRemoteCommand(req, socket, head, opts, run)?.catch((err: unknown) => {
        this.d.log?.warn({ err, id: sr.id }, `cri ${sr.kind} session failed`);
        socket.destroy();
      });
      return;
    }
    const supported = sr.kind === 'portforward' ? PORT_FORWARD_PROTOCOLS : REMOTE_COMMAND_PROTOCOLS;
    const protocol = negotiateProtocol(req, supported);
    if (protocol === undefined) {
      const offered = String(req.headers['x-stream-protocol-version'] ?? '');
      return refuseUpgrade(socket, 403, 'Forbidden', `unable to upgrade: unable to negotiate protocol: client supports [${offered}], server accepts [${supported.join(' ')}]`, {
        'X-Accepted-Stream-Protocol-Versions': supported.join(', '),
      });
    }
    acceptSpdyUpgrade(socket, protocol);
    if (sr.kind === 'portforward') {
      const conn = new SpdyConnection(socket, { server: true, accept: screenPortForwardStream }, head);
      const dialer = this.podDialer(sr.id);
      conn.once('close', () => dialer.close());
      servePortForward(conn, (port) => dialer.dial(port), sr.id);
      return;
    }
    const conn = new SpdyConnection(socket, { server: true }, head);
    void serveRemoteCommand(conn, protocol, opts, run).catch((err: unknown) => {
      this.d.log?.warn({ err, id: sr.id }, `cri ${sr.kind} session failed`);
      conn.destroy();
    });
  }

  /**
   * How to reach a port in a pod: the host's loopback for a host-network pod, else inside its
   * sandbox's network namespace. Looked up on the first dial (the streams may come before).
   */
  private podDialer(sandboxId: string): { dial(port: number): Promise<Socket>; close(): void } {
    let netns: NetnsDialer | undefined;
    let closed = false;
    const found = (async (): Promise<((port: number) => Promise<Socket>) | NetnsDialer> => {
      const { c } = await this.sandboxes.inspect(sandboxId);
      if (c.HostConfig?.NetworkMode === 'host') return dialHost;
      const pid = (await this.d.runtime.state(c.Id)).pid;
      if (!pid) throw new Error(`sandbox ${sandboxId} is not running`);
      netns = new NetnsDialer(pid);
      if (closed) netns.close();
      return netns;
    })();
    found.catch(() => undefined);
    return {
      dial: async (port) => {
        const d = await found;
        return typeof d === 'function' ? d(port) : d.dial(port);
      },
      close: () => {
        closed = true;
        netns?.close();
      },
    };
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
