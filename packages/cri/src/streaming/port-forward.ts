import type { Socket } from 'node:net';
import { pump } from './pump.js';
import type { SpdyConnection, SpdyStream } from './spdy-connection.js';
import { headerValue, type SpdyHeaders } from './spdy-headers.js';
import { STREAM_CREATION_TIMEOUT_MS } from './remote-command.js';

/** kubelet's port-forward protocol over SPDY. */
export const PORT_FORWARD_PROTOCOLS = ['portforward.k8s.io'];

/** Refuses (as kubelet's server does) a stream without a usable `port` or `streamType`. */
export function screenPortForwardStream(h: SpdyHeaders): string | undefined {
  const port = headerValue(h, 'port');
  if (!port) return '"port" header is required';
  if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) return `unable to parse "${port}" as a port`;
  const type = headerValue(h, 'streamtype');
  if (!type) return '"streamType" header is required';
  if (type !== 'error' && type !== 'data') return `invalid stream type "${type}"`;
  return undefined;
}

interface Pair {
  data?: SpdyStream;
  error?: SpdyStream;
  timer: NodeJS.Timeout;
}

/**
 * Serves port forwarding over an upgraded SPDY connection, as kubelet: the client opens a
 * data and an error stream per forwarded connection, paired by `requestID` (older clients
 * without it: by stream id), both naming the `port`. Each complete pair gets a connection to
 * that port in the pod (`dial`), bytes pumped both ways with half-closes passed on; a failure
 * is written as text on the pair's error stream. Lasts until the client closes the connection.
 */
export function servePortForward(conn: SpdyConnection, dial: (port: number) => Promise<Socket>, label: string): void {
  const pairs = new Map<string, Pair>();
  const sockets = new Set<Socket>();
  conn.on('stream', (s: SpdyStream) => {
    const type = headerValue(s.headers, 'streamtype');
    const requestId = headerValue(s.headers, 'requestid') || String(type === 'data' ? s.id - 2 : s.id);
    let p = pairs.get(requestId);
    if (!p) {
      const timer = setTimeout(() => {
        pairs.delete(requestId);
        fail(p!, `(request=${requestId}) timed out waiting for streams`);
      }, STREAM_CREATION_TIMEOUT_MS);
      p = { timer };
      pairs.set(requestId, p);
    }
    if (type === 'error') {
      if (p.error) return fail(p, `error processing stream for request ${requestId}: error stream already assigned`);
      p.error = s;
      s.resume(); // the client writes nothing there
    } else {
      if (p.data) return fail(p, `error processing stream for request ${requestId}: data stream already assigned`);
      p.data = s;
    }
    if (p.data && p.error) {
      clearTimeout(p.timer);
      pairs.delete(requestId);
      void forward(p.data, p.error);
    }
  });
  conn.on('close', () => {
    for (const p of pairs.values()) clearTimeout(p.timer);
    pairs.clear();
    for (const s of sockets) s.destroy();
  });

  const fail = (p: Pair, message: string): void => {
    if (p.error && !p.error.writableEnded) p.error.end(Buffer.from(message, 'utf8'));
  };

  const forward = async (data: SpdyStream, error: SpdyStream): Promise<void> => {
    const port = Number(headerValue(data.headers, 'port'));
    let sock: Socket;
    try {
      sock = await dial(port);
    } catch (e) {
      error.end(Buffer.from(`error forwarding port ${port} to pod ${label}: ${(e as Error).message}`, 'utf8'));
      data.end();
      data.resume();
      return;
    }
    if (conn.closed) {
      sock.destroy();
      return;
    }
    sockets.add(sock);
    let failure: string | undefined;
    let podEnded = false;
    sock.on('end', () => (podEnded = true));
    // a write the pod's side no longer takes after its end is the client's late data, not a failure
    sock.on('error', (e) => (podEnded ? undefined : (failure ??= e.message)));
    sock.on('close', () => sockets.delete(sock));
    // client to pod (its FIN half-closes the pod connection), pod to client (its end is the stream's FIN)
    await Promise.all([pump(data, sock), pump(sock, data)]);
    if (failure) error.end(Buffer.from(`error forwarding port ${port} to pod ${label}: ${failure}`, 'utf8'));
    else error.end();
    sock.destroy();
  };
}
