// berthd through the Docker API, against its peers in the same run. Prints:
//  - `docker run --rm busybox true` through berthd (docker CLI 28) vs `podman run --rm`
//  - 50 detached starts (`docker run -d`) per start
//  - GET /containers/json latency with 100 containers
//  - idle RSS of berthd (the bundled dist/berthd.js when built, else from source)
// Run: node --conditions=source --import tsx bench/api.bench.ts   (BENCH_RUNS=N)
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { EngineClient } from '@berth/engine-api';
import { buildBusyboxLayout, pushLayoutWithSkopeo, startRegistry, removeDaemonNetwork } from '@berth/fixtures';
import { startDaemon } from '../src/index.js';

const run = promisify(execFile);
const N = Number(process.env['BENCH_RUNS'] ?? 10);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (x: number): string => `${x.toFixed(1)} ms`;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const dir = await mkdtemp(join(tmpdir(), 'berthd-bench-'));
const n = Math.floor(Math.random() * 0xffffff);
const benchNet = { bridge: `bq${n.toString(16).padStart(6, '0')}`, bip: `10.${200 + (n % 50)}.${(n >> 8) % 256}.0/24` };
const idleNet = { bridge: `bj${n.toString(16).padStart(6, '0')}`, bip: `10.${200 + ((n + 7) % 50)}.${(n >> 8) % 256}.0/24` };
await writeFile(join(dir, 'daemon.json'), JSON.stringify(benchNet));
const daemon = await startDaemon({ root: join(dir, 'root'), runRoot: join(dir, 'run'), configFile: join(dir, 'daemon.json') });
const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, DOCKER_HOST: `unix://${daemon.socketPath}`, DOCKER_CONFIG: join(dir, 'dc') };
const client = new EngineClient({ socketPath: daemon.socketPath! });
const results: Record<string, number> = {};
try {
  await daemon.engine.images.ensureBuiltin('busybox');
  // Bridge networking when the machine gives it, else none (said in the output).
  let net: string[] = [];
  try {
    await run('docker', ['run', '--rm', 'busybox', 'true'], { env, timeout: 30_000 });
  } catch {
    net = ['--network', 'none'];
  }
  const netNote = net.length ? ' (network none)' : ' (bridge network)';

  const berth: number[] = [];
  for (let i = 0; i < N + 2; i++) {
    const t = await timed(() => run('docker', ['run', '--rm', ...net, 'busybox', 'true'], { env, timeout: 30_000 }));
    if (i >= 2) berth.push(t);
  }
  results['berthd'] = median(berth);
  console.log(`docker run --rm busybox true via berthd${netNote}: median ${ms(results['berthd'])} over ${N}`);
  if (net.length === 0) {
    const noNet: number[] = [];
    for (let i = 0; i < N; i++) noNet.push(await timed(() => run('docker', ['run', '--rm', '--network', 'none', 'busybox', 'true'], { env, timeout: 30_000 })));
    console.log(`docker run --rm --network none busybox true via berthd: median ${ms(median(noNet))} over ${N}`);
  }

  // podman, on the same busybox pulled from a local registry into a private store.
  const registry = await startRegistry();
  try {
    const layout = await buildBusyboxLayout();
    const ref = `${registry.host}/busybox:latest`;
    await pushLayoutWithSkopeo(layout.layoutDir, 'latest', ref);
    const podman = ['--root', join(dir, 'podman', 'root'), '--runroot', join(dir, 'podman', 'run'), '--cgroup-manager=cgroupfs', '--events-backend=file', '--runtime', 'runc'];
    // Root here lacks CAP_SYS_RESOURCE: podman's default rlimits are refused, so ask for the host's.
    const nofile = /Max open files\s+(\d+)/.exec(await readFile('/proc/self/limits', 'utf8'))?.[1] ?? '1024';
    const limits = ['--ulimit', `nofile=${nofile}:${nofile}`, '--ulimit', 'nproc=32768:32768'];
    await run('podman', [...podman, 'pull', '-q', '--tls-verify=false', ref], { timeout: 120_000 });
    const peer: number[] = [];
    for (let i = 0; i < N + 2; i++) {
      const t = await timed(() => run('podman', [...podman, 'run', '--rm', ...limits, ...net, ref, 'true'], { timeout: 60_000 }));
      if (i >= 2) peer.push(t);
    }
    results['podman'] = median(peer);
    console.log(`podman run --rm busybox true${netNote}: median ${ms(results['podman'])} over ${N}`);
    console.log(`run --rm ratio berthd/podman: ${(results['berthd'] / results['podman']).toFixed(2)}x (docker 20.10 measured 435 ms here; target <= 0.3x docker = 130 ms)`);
    await run('podman', [...podman, 'system', 'reset', '--force'], { timeout: 60_000 }).catch(() => {});
  } catch (err) {
    console.log(`podman run --rm: not measured (${(err as Error).message.split('\n')[0]})`);
  } finally {
    await registry.stop();
  }

  // 50 detached starts through the CLI.
  const t50 = await timed(async () => {
    for (let i = 0; i < 50; i++) await run('docker', ['run', '-d', ...net, 'busybox', 'sleep', '120'], { env, timeout: 30_000 });
  });
  console.log(`50 detached starts (docker run -d): ${ms(t50 / 50)} per start (podman 218 ms, docker 369 ms measured here; target <= 80 ms)`);

  // 100 containers listed through the API.
  const running = await client.containerList();
  for (let i = running.length; i < 100; i++) await client.containerCreate({ Image: 'busybox', Cmd: ['true'], HostConfig: { NetworkMode: 'none' } });
  const lat: number[] = [];
  for (let i = 0; i < 50; i++) lat.push(await timed(() => client.containerList({ all: true })));
  console.log(`GET /containers/json?all=1 with ${(await client.containerList({ all: true })).length} containers: median ${ms(median(lat))}`);
  for (const c of await client.containerList({ all: true })) await client.containerRemove(c.Id, { force: true });
} finally {
  client.close();
  await daemon.close();
}

// Idle RSS of a berthd process of its own.
{
  const idleDir = join(dir, 'idle');
  const sock = join(idleDir, 'run', 'berthd.sock');
  const bundled = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', 'dist', 'berthd.js');
  const appDir = join(new URL('.', import.meta.url).pathname, '..');
  // the flag dist/berthd.js's shebang gives it when run directly
  const args = existsSync(bundled)
    ? ['--max-semi-space-size=1', bundled]
    : ['--conditions=source', '--import', 'tsx', join(appDir, 'src', 'main.ts')];
  await writeFile(join(dir, 'idle.json'), JSON.stringify(idleNet));
  const child = spawn(process.execPath, [...args, '--root', join(idleDir, 'root'), '--run-root', join(idleDir, 'run'), '--host', `unix://${sock}`, '--config', join(dir, 'idle.json')], { cwd: appDir, stdio: 'ignore' });
  const c = new EngineClient({ socketPath: sock });
  try {
    let up = false;
    for (let i = 0; i < 200 && !up; i++) {
      up = await c.ping().then(() => true, () => false);
      if (!up) await new Promise((r) => setTimeout(r, 100));
    }
    await c.info();
    await new Promise((r) => setTimeout(r, 2000));
    const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
    console.log(`idle RSS of berthd (${existsSync(bundled) ? 'dist/berthd.js' : 'from source via tsx'}): ${rss.toFixed(1)} MB (dockerd+containerd idle 113 MB measured here; target <= 50 MB)`);
  } finally {
    c.close();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}
// berthd leaves its bridge and firewall rules when it stops (like docker0): remove ours.
await removeDaemonNetwork(benchNet.bridge, benchNet.bip);
await removeDaemonNetwork(idleNet.bridge, idleNet.bip);
await rm(dir, { recursive: true, force: true });
