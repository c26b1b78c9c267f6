import { request } from 'node:http';
import type { Socket } from 'node:net';
import { SpdyConnection } from './spdy-connection.js';

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
