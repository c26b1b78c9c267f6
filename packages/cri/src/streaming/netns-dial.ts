import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';

const DIAL_TIMEOUT_MS = 10_000;

/**
 * The child's part: connect to the port on the loopback of the namespace it was started in
 * (IPv4, then IPv6, as `localhost` would), hand the connected socket to the parent over the
 * IPC channel, and exit. A socket keeps the namespace it was made in, so berthd then pumps
 * bytes through it directly — no process stays in between.
 */
const CHILD = `
const net = require('node:net');
const port = Number(process.argv[1]);
const fail = (m) => process.send({ error: m }, () => process.exit(0));
const tryHost = (hosts, last) => {
  if (hosts.length === 0) return fail(last);
  const s = net.connect({ host: hosts[0], port });
  s.once('connect', () => { s.pause(); process.send({ ok: true }, s, () => process.exit(0)); });
  s.once('error', (e) => tryHost(hosts.slice(1), e.message));
};
tryHost(['127.0.0.1', '::1'], 'no address');
`;

/** Connects to `port` on the host's loopback (IPv4 first, then IPv6). */
export function dialHost(port: number): Promise<Socket> {
  const attempt = (host: string): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const s = connect({ host, port });
      s.once('connect', () => {
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', reject);
    });
  return attempt('127.0.0.1').catch(() => attempt('::1'));
}

/**
 * Connects to `port` on the loopback of the network namespace of process `pid` (a pod's
 * sandbox): a short-lived Node child entered into that namespace with nsenter makes the
 * connection and passes the socket back.
 */
export function dialInNetns(pid: number, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', [`--net=/proc/${pid}/ns/net`, '--', process.execPath, '-e', CHILD, String(port)], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    let stderr = '';
    let settled = false;
    const settle = (err: Error | undefined, sock?: Socket): void => {
      if (settled) {
        sock?.destroy();
        return;
      }
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(sock!);
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      settle(new Error(`timed out connecting to port ${port}`));
    }, DIAL_TIMEOUT_MS);
    child.stderr!.on('data', (b: Buffer) => {
      if (stderr.length < 4096) stderr += b.toString('utf8');
    });
    child.on('error', (e) => settle(e));
    child.on('message', (m: { ok?: boolean; error?: string }, handle?: unknown) => {
      if (m.ok && handle) settle(undefined, handle as Socket);
      else settle(new Error(m.error ?? 'no connection'));
    });
    child.on('exit', (code) => settle(new Error(stderr.trim() || `port dialer exited with ${code}`)));
  });
}
