import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import type { Socket } from 'node:net';
import { SpdyConnection } from './spdy-connection.js';
import { WsChannelConnection } from './websocket-channels.js';
import { acceptKey } from './websocket-frames.js';

/**
 * The client side of a streaming URL, as kubectl's SPDY round tripper does it: POST with
 * `Upgrade: SPDY/3.1` and the protocols it speaks, then SPDY over the upgraded socket. For
 * tests and tools; kubelet itself dials the runtime's URLs with client-go.
 */
export function dialSpdy(url: string, protocols: string[], timeoutMs = 15_000): Promise<{ conn: SpdyConnection; protocol: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      headers: { Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': protocols },
      timeout: timeoutMs,
    });
    req.on('upgrade', (res, socket: Socket, head: Buffer) => {
      const conn = new SpdyConnection(socket, { server: false }, head);
      resolve({ conn, protocol: String(res.headers['x-stream-protocol-version'] ?? '') });
    });
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.length < 64 && parts.push(b));
      res.on('end', () => reject(new Error(`no upgrade: ${res.statusCode} ${Buffer.concat(parts).toString('utf8').trim()}`)));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('streaming upgrade timed out')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * The client side of a streaming URL over a WebSocket (kubelet's channel protocols): the
 * RFC 6455 handshake offering `protocols`, then channels (`readChannels` to read: exec's stdout 1,
 * stderr 2 and error 3; a port-forward's data and error channels).
 */
export function dialWebSocket(url: string, protocols: string[], readChannels = [1, 2, 3], timeoutMs = 15_000): Promise<{ conn: WsChannelConnection; protocol: string }> {
  return new Promise((resolve, reject) => {
    const key = randomBytes(16).toString('base64');
    const req = request(url, {
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': key, ...(protocols.length ? { 'Sec-WebSocket-Protocol': protocols.join(', ') } : {}) },
      timeout: timeoutMs,
    });
    req.on('upgrade', (res, socket: Socket, head: Buffer) => {
      if (res.headers['sec-websocket-accept'] !== acceptKey(key)) {
        socket.destroy();
        return reject(new Error('bad Sec-WebSocket-Accept'));
      }
      const protocol = String(res.headers['sec-websocket-protocol'] ?? '');
      resolve({ conn: new WsChannelConnection(socket, { base64: protocol.includes('base64'), readChannels, mask: true }, head), protocol });
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => reject(new Error(`no upgrade: ${res.statusCode}`)));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('streaming upgrade timed out')));
    req.on('error', reject);
    req.end();
  });
}
