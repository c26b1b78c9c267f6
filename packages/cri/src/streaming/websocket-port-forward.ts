import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { refuseUpgrade } from './handshake.js';
import { pump } from './pump.js';
import { WsChannelConnection } from './websocket-channels.js';
import { acceptKey } from './websocket-frames.js';

/** The subprotocols of kubelet's port-forward WebSocket ('' when the client names none: binary). */
export const WEBSOCKET_PORT_FORWARD_PROTOCOLS = ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io'];

/** The ports a WebSocket port-forward serves: the URL's `port` query values (comma lists too), else the PortForward request's. */
export function portsOf(req: IncomingMessage, requested: number[]): number[] | string {
  const values = new URL(req.url ?? '/', 'http://x').searchParams.getAll('port');
  if (values.length === 0) return requested.length > 0 ? requested : 'query parameter "port" is required';
  const ports: number[] = [];
  for (const v of values.flatMap((s) => s.split(','))) {
    if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 65535) return `unable to parse "${v}" as a port`;
    ports.push(Number(v));
  }
  return ports;
}

/**
 * Port forwarding over a WebSocket, as kubelet: one connection per port, port i on channels 2i
 * (data, both ways) and 2i+1 (error); each channel first carries its port as a little-endian
 * uint16. A pair ends when the pod's side of its connection does (the client has no way to end
 * a channel); the WebSocket closes once every pair has ended.
 */
export function serveWebSocketPortForward(req: IncomingMessage, socket: Socket, head: Buffer, ports: number[], dial: (port: number) => Promise<Socket>, label: string): void {
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || req.headers['sec-websocket-version'] !== '13') {
    return refuseUpgrade(socket, 400, 'Bad Request', 'unable to upgrade: a WebSocket version 13 handshake is required', { 'Sec-WebSocket-Version': '13' });
  }
  const offered = String(req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  const protocol = offered.length === 0 ? '' : offered.find((p) => WEBSOCKET_PORT_FORWARD_PROTOCOLS.includes(p));
  if (protocol === undefined) {
    return refuseUpgrade(socket, 403, 'Forbidden', `requested protocol(s) are not supported: [${offered.join(' ')}]; supports [${WEBSOCKET_PORT_FORWARD_PROTOCOLS.join(' ')}]`);
  }
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n${protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : ''}\r\n`,
  );
  const conn = new WsChannelConnection(socket, { base64: protocol.includes('base64'), readChannels: ports.map((_, i) => 2 * i) }, head);
  const sockets = new Set<Socket>();
  conn.on('close', () => sockets.forEach((s) => s.destroy()));
  const pairs = ports.map(async (port, i) => {
    const data = 2 * i;
    const error = 2 * i + 1;
    const portBytes = Buffer.alloc(2);
    portBytes.writeUInt16LE(port);
    conn.send(data, portBytes);
    conn.send(error, portBytes);
    let sock: Socket;
    try {
      sock = await dial(port);
    } catch (e) {
      conn.send(error, Buffer.from(`error forwarding port ${port} to pod ${label}: ${(e as Error).message}`, 'utf8'));
      conn.readable(data)!.resume();
      return;
    }
    if (conn.closed) return void sock.destroy();
    sockets.add(sock);
    let failure: string | undefined;
    let podEnded = false;
    sock.on('end', () => (podEnded = true));
    sock.on('error', (e) => (podEnded ? undefined : (failure ??= e.message)));
    void pump(conn.readable(data)!, sock);
    const toClient = conn.writable(data);
    await pump(sock, toClient, false);
    await new Promise<void>((resolve) => toClient.end(() => resolve())); // all of it sent before the close
    if (failure) conn.send(error, Buffer.from(`error forwarding port ${port} to pod ${label}: ${failure}`, 'utf8'));
    sock.destroy();
    sockets.delete(sock);
  });
  void Promise.all(pairs).then(() => conn.close());
}
