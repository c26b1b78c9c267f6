import http from 'node:http';
import { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { chmod, chown, lstat, mkdir, readFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { InvalidArgumentError, UnsupportedError } from '@berth/image-format';
import { isNamedPipePath, parseHost } from '@berth/engine-api';

const UPGRADE_SOCKET = Symbol('berth.upgradeSocket');
type UpgradedMessage = IncomingMessage & { [UPGRADE_SOCKET]?: Socket };

/** The raw socket of a request that arrived with `Connection: Upgrade` (attach, exec start). */
export function upgradeSocket(req: IncomingMessage): Socket | undefined {
  return (req as UpgradedMessage)[UPGRADE_SOCKET];
}

export interface Listener {
  address: string;
  server: http.Server;
  close(): Promise<void>;
}

const MAX_UPGRADE_BODY = 1 << 20;

/**
 * Node hands requests carrying `Upgrade` to the 'upgrade' event with the socket already
 * detached from its HTTP parser. Route them through fastify like any other request, with
 * a ServerResponse bound to that socket (so errors are ordinary responses) and the body
 * (exec start sends JSON) read by Content-Length from the bytes that follow the headers.
 */
function routeUpgrade(app: FastifyInstance, req: IncomingMessage, socket: Socket, head: Buffer): void {
  // The HTTP server dropped its error listener when it handed the socket over: a client
  // gone before the route answers (a 404 written to a closed socket: EPIPE) must not take
  // the daemon down. The socket closes on the error; the session sees that.
  socket.on('error', () => {});
  socket.pause();
  const length = Number(req.headers['content-length'] ?? 0);
  if (!Number.isInteger(length) || length < 0 || length > MAX_UPGRADE_BODY) {
    socket.end('HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{"message":"invalid Content-Length"}\n');
    return;
  }
  let body = head;
  const proceed = (): void => {
    const rest = body.subarray(length);
    body = body.subarray(0, length);
    if (rest.length > 0) socket.unshift(rest);
    socket.pause();
    // Node has already ended `req` (an upgrade has no body as far as its parser knows):
    // route a fresh message with the same head and the body handed over whole, whose
    // _read never resumes the socket (its bytes after the body are the client's stdin).
    const routed = new IncomingMessage(socket);
    routed.method = req.method;
    routed.url = req.url;
    routed.headers = req.headers;
    routed.rawHeaders = req.rawHeaders;
    routed.httpVersion = req.httpVersion;
    routed.httpVersionMajor = req.httpVersionMajor;
    routed.httpVersionMinor = req.httpVersionMinor;
    (routed as unknown as { _read: () => void })._read = () => {};
    if (body.length > 0) routed.push(body);
    routed.push(null);
    routed.complete = true;
    (routed as UpgradedMessage)[UPGRADE_SOCKET] = socket;
    const res = new ServerResponse(routed);
    res.shouldKeepAlive = false;
    res.assignSocket(socket);
    res.on('finish', () => {
      if (!socket.destroyed) socket.end();
    });
    app.routing(routed, res);
  };
  if (body.length >= length) return proceed();
  const onData = (chunk: Buffer): void => {
    body = Buffer.concat([body, chunk]);
    if (body.length >= length) {
      socket.off('data', onData);
      socket.pause();
      proceed();
    }
  };
  socket.on('data', onData);
  socket.resume();
}

/**
 * Listens on `unix:///path` (stale socket removed, mode 0660), `npipe:////./pipe/NAME`
 * (Windows) or `tcp://127.0.0.1:N` (loopback only: the API is root-equivalent and
 * unauthenticated).
 */
export async function listen(app: FastifyInstance, address: string): Promise<Listener> {
  const target = parseHost(address);
  const sockets = new Set<Socket>();
  const server = http.createServer({ keepAliveTimeout: 60_000, requestTimeout: 0, headersTimeout: 60_000 }, (req, res) =>
    app.routing(req, res),
  );
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => routeUpgrade(app, req, socket, head));
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  let shown: string;
  if ('socketPath' in target && isNamedPipePath(target.socketPath)) {
    // A named pipe lives while its server does: no directory, stale file or mode to manage.
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(target.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    shown = `npipe://${target.socketPath.replace(/\\/g, '/')}`;
  } else if ('socketPath' in target) {
    await mkdir(dirname(target.socketPath), { recursive: true, mode: 0o755 });
    await removeStaleSocket(target.socketPath);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(target.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await chmod(target.socketPath, 0o660);
    // Like Docker's `docker` group: members of `berth` may use the socket without root.
    const gid = await groupId('berth');
    if (gid !== undefined) await chown(target.socketPath, 0, gid).catch(() => {});
    shown = `unix://${target.socketPath}`;
  } else {
    if (!isLoopback(target.hostname)) {
      throw new UnsupportedError(`refusing to listen on ${address}: only loopback tcp addresses are allowed (the API has no authentication)`);
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(target.port, target.hostname, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const a = server.address();
    shown = typeof a === 'object' && a ? `tcp://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : address;
  }
  return {
    address: shown,
    server,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      if ('socketPath' in target && !isNamedPipePath(target.socketPath)) await unlink(target.socketPath).catch(() => {});
    },
  };
}

async function removeStaleSocket(path: string): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return;
  if (!st.isSocket()) throw new InvalidArgumentError(`${path} exists and is not a socket`);
  await unlink(path);
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

async function groupId(name: string): Promise<number | undefined> {
  const groups = await readFile('/etc/group', 'utf8').catch(() => '');
  for (const line of groups.split('\n')) {
    const [group, , gid] = line.split(':');
    if (group === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  return undefined;
}
