// Where the time of `docker run --rm busybox true` goes inside berthd. Replays the docker
// CLI's request sequence (create; attach with Upgrade and wait?condition=removed, both
// answered before start; start) over the unix socket and prints, per network mode, the
// median milliseconds since the create request of: each response, the container's
// start/die/destroy events, the end of the attach stream and of the wait response.
// The CLI returns when both the attach stream and the wait response have ended.
// Run: node --conditions=source --import tsx bench/run-rm-timeline.ts   (BENCH_RUNS=N)
import http from 'node:http';
import type { Socket } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon } from '../src/index.js';
import { removeDaemonNetwork } from '@berth/fixtures';

const N = Number(process.env['BENCH_RUNS'] ?? 10);
const dir = await mkdtemp(join(tmpdir(), 'berthd-timeline-'));
const n = Math.floor(Math.random() * 0xffffff);
const net = { bridge: `bt${n.toString(16).padStart(6, '0')}`, bip: `10.${200 + (n % 50)}.${(n >> 8) % 256}.0/24` };
await writeFile(join(dir, 'daemon.json'), JSON.stringify(net));
const daemon = await startDaemon({ root: join(dir, 'root'), runRoot: join(dir, 'run'), configFile: join(dir, 'daemon.json') });
const socketPath = daemon.socketPath!;

function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const r = http.request({ socketPath, method, path, headers: { 'content-type': 'application/json' } }, (m) => {
      let b = '';
      m.on('data', (c: Buffer) => (b += c.toString()));
      m.on('end', () => resolve({ status: m.statusCode ?? 0, body: b }));
    });
    r.on('error', reject);
    r.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

type Marks = Record<string, number>;

async function once(mode: string): Promise<Marks> {
  const t0 = performance.now();
  const at = (): number => performance.now() - t0;
  const m: Marks = {};
  const created = await call('POST', '/v1.50/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { AutoRemove: true, NetworkMode: mode } });
  if (created.status !== 201) throw new Error(`create: ${created.status} ${created.body}`);
  const id = (JSON.parse(created.body) as { Id: string }).Id;
  m['create response'] = at();
  const events = http.request({ socketPath, method: 'GET', path: `/v1.50/events?filters=${encodeURIComponent(JSON.stringify({ container: [id] }))}` }, (res) => {
    let buf = '';
    res.on('data', (c: Buffer) => {
      buf += c.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const e = JSON.parse(buf.slice(0, nl)) as { Action: string };
        buf = buf.slice(nl + 1);
        if (['start', 'die', 'destroy'].includes(e.Action)) m[`event ${e.Action}`] ??= at();
      }
    });
  });
  events.end();
  await new Promise((r) => setTimeout(r, 20)); // the events stream is subscribed
  const t1 = performance.now();
  const rebase = (): number => performance.now() - t1;
  const attached = new Promise<void>((resolve, reject) => {
    const r = http.request({ socketPath, method: 'POST', path: `/v1.50/containers/${id}/attach?stream=1&stdout=1&stderr=1`, headers: { Connection: 'Upgrade', Upgrade: 'tcp' } });
    r.on('upgrade', (_res, socket: Socket) => {
      m['attach 101'] = rebase();
      socket.on('data', () => {});
      socket.on('close', () => {
        m['attach stream end'] = rebase();
        resolve();
      });
    });
    r.on('error', reject);
    r.end();
  });
  const waited = new Promise<void>((resolve, reject) => {
    const r = http.request({ socketPath, method: 'POST', path: `/v1.50/containers/${id}/wait?condition=removed` }, (res) => {
      m['wait headers'] = rebase();
      res.on('data', () => {});
      res.on('end', () => {
        m['wait response end'] = rebase();
        resolve();
      });
    });
    r.on('error', reject);
    r.flushHeaders();
    r.end();
  });
  const started = await call('POST', `/v1.50/containers/${id}/start`);
  if (started.status !== 204) throw new Error(`start: ${started.status} ${started.body}`);
  m['start response'] = rebase();
  await Promise.all([attached, waited]);
  m['CLI could return'] = rebase();
  await new Promise((r) => setTimeout(r, 20));
  events.destroy();
  // events are measured from the create request: rebase them onto the attach/start clock too
  for (const k of Object.keys(m)) if (k.startsWith('event ')) m[k] = m[k]! - (t1 - t0);
  delete m['create response'];
  return m;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
try {
  await daemon.engine.images.ensureBuiltin('busybox');
  for (const mode of ['none', 'bridge']) {
    const runs: Marks[] = [];
    for (let i = 0; i < N + 1; i++) {
      const r = await once(mode);
      if (i > 0) runs.push(r);
    }
    const keys = Object.keys(runs[0]!).filter((k) => runs.every((r) => r[k] !== undefined));
    keys.sort((a, b) => median(runs.map((r) => r[a]!)) - median(runs.map((r) => r[b]!)));
    console.log(`docker run --rm --network ${mode} busybox true, median ms after attach/wait/start were sent (${N} runs):`);
    for (const k of keys) console.log(`  ${median(runs.map((r) => r[k]!)).toFixed(1).padStart(7)}  ${k}`);
  }
} finally {
  await daemon.close();
  await removeDaemonNetwork(net.bridge, net.bip).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
}
