// berth CLI benchmarks, printed as figures (run with tsx):
//   - `berth run --rm busybox true` through berthd (default network and --network none)
//     vs raw `crun run` of an equivalent bundle;
//   - `berth ps` latency on an idle daemon (and `docker ps` against the same berthd);
//   - `berth --version` vs `node -e 0`.
// berthd runs as a child with its own temp root, run root, socket, bridge and subnet.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EngineClient } from '@berth/engine-api';
import { buildBusyboxRootfs, removeDaemonNetwork } from '@berth/fixtures';

const here = dirname(fileURLToPath(import.meta.url));
const cliBin = join(here, '../dist/berth.js');
const berthdBin = join(here, '../../daemon/dist/berthd.js');
const N = Number(process.env['BENCH_RUNS'] ?? 20);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Wall time of one child process run in ms; throws when it fails. */
function timeOnce(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr?.toString()}`);
  return ms;
}

function measure(label: string, cmd: string, args: string[], runs = N, env?: NodeJS.ProcessEnv): number {
  for (let i = 0; i < 3; i++) timeOnce(cmd, args, env);
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) xs.push(timeOnce(cmd, args, env));
  const m = median(xs);
  console.log(`${label.padEnd(52)} median ${m.toFixed(1).padStart(7)} ms   (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)}, n=${runs})`);
  return m;
}

/** Two commands measured alternately, so a busy machine weighs on both alike. */
function measurePair(
  a: { label: string; cmd: string; args: string[]; env?: NodeJS.ProcessEnv },
  b: { label: string; cmd: string; args: string[]; env?: NodeJS.ProcessEnv },
  runs: number,
): [number, number] {
  for (let i = 0; i < 3; i++) {
    timeOnce(a.cmd, a.args, a.env);
    timeOnce(b.cmd, b.args, b.env);
  }
  const xa: number[] = [];
  const xb: number[] = [];
  for (let i = 0; i < runs; i++) {
    xa.push(timeOnce(a.cmd, a.args, a.env));
    xb.push(timeOnce(b.cmd, b.args, b.env));
  }
  for (const [label, xs] of [[a.label, xa], [b.label, xb]] as const) {
    console.log(`${label.padEnd(52)} median ${median(xs).toFixed(1).padStart(7)} ms   (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)}, n=${runs})`);
  }
  return [median(xa), median(xb)];
}

async function isHybridCgroup(): Promise<boolean> {
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  return existsSync('/sys/fs/cgroup/memory') && mounts.split('\n').some((l) => l.split(' ')[1] === '/sys/fs/cgroup/unified' && l.split(' ')[2] === 'cgroup2');
}

async function main(): Promise<void> {
  if (!existsSync(cliBin) || !existsSync(berthdBin)) throw new Error('build first: pnpm --filter @berth/cli --filter @berth/daemon build');
  const dir = await mkdtemp(join(tmpdir(), 'berth-cli-bench-'));
  const sock = join(dir, 'run', 'berthd.sock');
  const host = `unix://${sock}`;
  const n = randomBytes(3).readUIntBE(0, 3);
  const net = { bridge: `bb${n.toString(16).padStart(6, '0')}`, bip: `10.${120 + (n % 30)}.${(n >> 8) % 256}.0/24` };
  await writeFile(join(dir, 'daemon.json'), JSON.stringify(net));
  const daemon = spawn(process.execPath, [berthdBin, '--root', join(dir, 'root'), '--run-root', join(dir, 'run'), '-H', host, '--config', join(dir, 'daemon.json')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const client = new EngineClient({ host });
  try {
    for (let i = 0; i < 200; i++) {
      try {
        await client.ping();
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    // No registry here: berthd answers a pull of busybox with its built-in image.
    for await (const _ of client.imagePull('busybox:latest')) void _;
    console.log(`berth CLI bench (node ${process.version}, berthd pid ${daemon.pid}, ${N} runs each, medians)`);
    const env = { ...process.env, BERTH_HOST: host };

    const hasDocker = spawnSync('docker', ['--version']).status === 0;
    const dockerEnv = { ...env, DOCKER_HOST: host, DOCKER_CONFIG: join(dir, 'docker-config') };
    let run: number;
    let dockerRun: number | undefined;
    if (hasDocker) {
      // The same daemon under both CLIs: the difference is the client's own cost.
      [run, dockerRun] = measurePair(
        { label: 'berth run --rm busybox true (default network)', cmd: process.execPath, args: [cliBin, 'run', '--rm', 'busybox', 'true'], env },
        { label: 'docker run --rm busybox true (same berthd)', cmd: 'docker', args: ['run', '--rm', 'busybox', 'true'], env: dockerEnv },
        N,
      );
    } else {
      run = measure('berth run --rm busybox true (default network)', process.execPath, [cliBin, 'run', '--rm', 'busybox', 'true'], N, env);
    }
    const runNone = measure('berth run --rm --network none busybox true', process.execPath, [cliBin, 'run', '--rm', '--network', 'none', 'busybox', 'true'], N, env);

    const bundle = join(dir, 'bundle');
    await buildBusyboxRootfs(join(bundle, 'rootfs'));
    execFileSync('crun', ['spec'], { cwd: bundle });
    const spec = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as { process: { terminal: boolean; args: string[] }; root: { path: string } };
    spec.process.terminal = false;
    spec.process.args = ['/bin/true'];
    spec.root.path = join(bundle, 'rootfs');
    await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
    const hybrid = await isHybridCgroup();
    const crunArgs = (): string[] => ['--root', join(dir, 'crun-state'), 'run', '--bundle', bundle, `bench-${randomBytes(4).toString('hex')}`];
    // crun 1.8 refuses hybrid cgroups: run it in a private mount ns without the cgroup2 mount (as driver-linux).
    const rawCmd = hybrid ? 'unshare' : 'crun';
    const rawArgs = (): string[] => (hybrid ? ['-m', '--propagation', 'private', '/bin/sh', '-c', 'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun "$@"', 'sh', ...crunArgs()] : crunArgs());
    for (let i = 0; i < 3; i++) timeOnce(rawCmd, rawArgs());
    const rawTimes: number[] = [];
    for (let i = 0; i < N; i++) rawTimes.push(timeOnce(rawCmd, rawArgs()));
    const raw = median(rawTimes);
    console.log(`${`raw crun run (busybox /bin/true${hybrid ? ', unshare+sh for hybrid cgroups' : ''})`.padEnd(52)} median ${raw.toFixed(1).padStart(7)} ms`);

    let ps: number;
    let dockerPs: number | undefined;
    if (hasDocker) {
      [ps, dockerPs] = measurePair(
        { label: 'berth ps (idle daemon)', cmd: process.execPath, args: [cliBin, 'ps'], env },
        { label: 'docker ps (docker 28 CLI, same berthd)', cmd: 'docker', args: ['ps'], env: dockerEnv },
        N,
      );
    } else {
      ps = measure('berth ps (idle daemon)', process.execPath, [cliBin, 'ps'], N, env);
    }
    const [version, node] = measurePair(
      { label: 'berth --version', cmd: process.execPath, args: [cliBin, '--version'] },
      { label: 'node -e 0', cmd: process.execPath, args: ['-e', '0'] },
      30,
    );
    console.log('');
    console.log(`run --rm true: berth ${run.toFixed(1)} ms (none: ${runNone.toFixed(1)} ms) vs raw crun ${raw.toFixed(1)} ms -> ${(run / raw).toFixed(1)}x${dockerRun !== undefined ? `; docker CLI on the same berthd ${dockerRun.toFixed(1)} ms` : ''}`);
    console.log(`ps: berth ${ps.toFixed(1)} ms${dockerPs !== undefined ? ` vs docker CLI ${dockerPs.toFixed(1)} ms` : ''} (goal <= 60 ms)`);
    console.log(`--version: ${version.toFixed(1)} ms vs node -e 0 ${node.toFixed(1)} ms -> ratio ${(version / node).toFixed(2)} (goal < 1.5)`);
  } finally {
    client.close();
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon.once('exit', r));
    await removeDaemonNetwork(net.bridge, net.bip);
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
