import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

/**
 * The stream protocol both sides speak, as apimachinery's httpstream.Handshake picks it: the
 * first of the client's `X-Stream-Protocol-Version` values (in its order) that the server
 * supports; '' when the client named none (legacy clients); undefined when nothing matches.
 */
export function negotiateProtocol(req: IncomingMessage, supported: string[]): string | undefined {
  const raw = req.headers['x-stream-protocol-version'];
  const offered = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
  if (offered.length === 0) return '';
  return offered.find((p) => supported.includes(p));
}

/** An HTTP error on a socket that asked for an upgrade, then its end. */
export function refuseUpgrade(socket: Socket, status: number, reason: string, message: string, extra: Record<string, string> = {}): void {
  const body = Buffer.from(`${message}\n`, 'utf8');
  const headers = Object.entries({ 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(body.length), ...extra, Connection: 'close' })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.end(Buffer.concat([Buffer.from(`HTTP/1.1 ${status} ${reason}\r\n${headers}\r\n`, 'latin1'), body]));
}

/** The 101 that turns the connection into SPDY/3.1, naming the negotiated protocol (if any). */
export function acceptSpdyUpgrade(socket: Socket, protocol: string): void {
  const proto = protocol ? `X-Stream-Protocol-Version: ${protocol}\r\n` : '';
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n${proto}\r\n`);
}

/** True when the request asks for the SPDY upgrade kubelet's clients use. */
export function wantsSpdy(req: IncomingMessage): boolean {
  return (req.headers.upgrade ?? '').toLowerCase().split(',').some((p) => p.trim() === 'spdy/3.1');
}
