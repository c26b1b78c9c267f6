import http from 'node:http';
import net from 'node:net';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One plain HTTP request over the unix socket, body read whole. */
export function request(socketPath: string, method: string, path: string, opts: { body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path, headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Writes raw bytes on a fresh connection and collects what comes back until `until` matches or it closes. */
export function rawExchange(socketPath: string, payload: string, until: (text: string) => boolean, timeoutMs = 5000): Promise<{ text: string; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let text = '';
    const timer = setTimeout(() => reject(new Error(`timed out; got ${JSON.stringify(text)}`)), timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      resolve({ text, socket });
    };
    const onData = (c: Buffer): void => {
      text += c.toString('latin1');
      if (until(text)) done();
    };
    socket.on('data', onData);
    socket.once('end', () => done());
    socket.once('error', reject);
    socket.write(payload);
  });
}

/** GETs until the server answers (bounded: 10 s). */
export async function fetchWhenUp(url: string): Promise<string> {
  let last: unknown;
  for (let i = 0; i < 100; i++) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return await res.text();
      last = new Error(`status ${res.status}`);
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} never answered: ${String(last)}`);
}
