import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';

const DIAL_TIMEOUT_MS = 10_000;

/**
 * The child's part: for each port asked over the IPC channel, connect to it on the loopback of
 * the namespace the child was started in (IPv4, then IPv6, as `localhost` would) and hand the
 * connected socket to the parent. A socket keeps the namespace it was made in, so berthd then
 * pumps bytes through it directly: no process stays in between. The child goes with its parent.
 */
const CHILD = `
const net = require('node:net');
const dial = (id, port, hosts, last) => {
  if (hosts.length === 0) return process.send({ id, error: last });
  const s = net.connect({ host: hosts[0], port });
  s.once('connect', () => { s.pause(); process.send({ id, ok: true }, s); });
  s.once('error', (e) => dial(id, port, hosts.slice(1), e.message));
};
process.on('message', (m) => dial(m.id, m.port, ['127.0.0.1', '::1'], 'no address'));
process.on('disconnect', () => process.exit(0));
process.send({ ready: true });
`;

/** Connects to `port` on the host's loopback (IPv4 first, then IPv6). */
export function dialHost(port: number): Promise<Socket> {
  const attempt = (host: string): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const s = connect({ host, port, allowHalfOpen: true });
      s.once('connect', () => {
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', reject);
    });
  return attempt('127.0.0.1').catch(() => attempt('::1'));
}

/**
 * Connections to ports on the loopback of the network namespace of process `pid` (a pod's
 * sandbox), made by one Node child entered into that namespace with nsenter, started on the
 * first dial (a few hundred ms here) and kept for the session's later connections; close()
 * ends it.
 */
export class NetnsDialer {
  private child: ChildProcess | undefined;
  private ready: Promise<void> | undefined;
  private seq = 0;
  private readonly waiting = new Map<number, { resolve(s: Socket): void; reject(e: Error): void; timer: NodeJS.Timeout }>();
  private closed = false;

  constructor(private readonly pid: number) {}

  async dial(port: number): Promise<Socket> {
    await this.start();
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.settle(id, new Error(`timed out connecting to port ${port}`)), DIAL_TIMEOUT_MS);
      this.waiting.set(id, { resolve, reject, timer });
      if (!this.child?.connected) return this.settle(id, new Error('port dialer is gone'));
      this.child.send({ id, port });
    });
  }

  close(): void {
    this.closed = true;
    this.child?.kill('SIGKILL');
    for (const id of [...this.waiting.keys()]) this.settle(id, new Error('port dialer closed'));
  }

  private start(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('port dialer closed'));
    this.ready ??= new Promise<void>((resolve, reject) => {
      const child = spawn('nsenter', [`--net=/proc/${this.pid}/ns/net`, '--', process.execPath, '-e', CHILD], {
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
      });
      this.child = child;
      let stderr = '';
      child.stderr!.on('data', (b: Buffer) => {
        if (stderr.length < 4096) stderr += b.toString('utf8');
      });
      child.on('error', (e) => reject(e));
      child.on('message', (m: { ready?: boolean; id?: number; ok?: boolean; error?: string }, handle?: unknown) => {
        if (m.ready) return resolve();
        if (m.id === undefined) return;
        if (m.ok && handle) this.settle(m.id, undefined, handle as Socket);
        else this.settle(m.id, new Error(m.error ?? 'no connection'));
      });
      child.on('exit', (code) => {
        const err = new Error(stderr.trim() || `port dialer exited with ${code}`);
        reject(err);
        for (const id of [...this.waiting.keys()]) this.settle(id, err);
      });
    });
    return this.ready;
  }

  private settle(id: number, err: Error | undefined, sock?: Socket): void {
    const w = this.waiting.get(id);
    if (!w) {
      sock?.destroy();
      return;
    }
    this.waiting.delete(id);
    clearTimeout(w.timer);
    if (err) w.reject(err);
    else w.resolve(sock!);
  }
}
