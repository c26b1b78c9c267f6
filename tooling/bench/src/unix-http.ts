import { Agent, request } from 'node:http';

/** A keep-alive HTTP client over a unix socket (the Docker API's transport). */
export class UnixHttp {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 4 });
  constructor(readonly socketPath: string) {}

  /** Sends a request, resolves with status and the whole body (small API replies only). */
  send(method: string, path: string, body?: unknown, timeoutMs = 30_000): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        {
          socketPath: this.socketPath,
          agent: this.agent,
          method,
          path,
          timeout: timeoutMs,
          headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timeout`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** Polls GET /_ping until 200 (bounded). */
  async waitReady(timeoutMs: number, alive: () => boolean = () => true): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
      if (!alive()) throw new Error('daemon exited during startup');
      try {
        if ((await this.send('GET', '/_ping', undefined, 2_000)).status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no answer on ${this.socketPath} within ${timeoutMs} ms`);
  }

  close(): void {
    this.agent.destroy();
  }
}
