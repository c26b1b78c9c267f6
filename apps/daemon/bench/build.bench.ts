// Builds through the docker CLI, berthd against its peers in the same run, interleaved:
//  - a small Dockerfile (FROM + COPY + RUN + CMD), uncached (--no-cache) and fully cached:
//    berthd (DOCKER_BUILDKIT=0 docker build), the reference dockerd's classic builder, its
//    BuildKit (through buildx, or else Debian's docker 20.10 CLI) and podman build; beside them the docker
//    CLI's own floor (`docker version` against berthd), which a cached build cannot beat;
//  - a RUN --mount=type=cache step whose work the cache saves (gzip of 64 MB): first
//    build with an empty cache, then the step run again with the cache filled.
// The reference dockerd is BENCH_DOCKER_HOST (default unix:///var/tmp/dref/docker.sock when
// present); the busybox it builds from is loaded under a unique name and removed afterwards.
// BENCH_BASELINE=<another installed checkout> adds that tree's berthd (run from its source, own
// root and bridge) as one more peer: a before/after comparison in one run, interleaved.
// Run: node --conditions=source --import tsx bench/build.bench.ts   (BENCH_RUNS=N; BENCH_CACHE_MOUNT=0 skips the cache mount)
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { removeDaemonNetwork } from '@berth/fixtures';
import { startDaemon } from '../src/index.js';

const run = promisify(execFile);
const N = Number(process.env['BENCH_RUNS'] ?? 5);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (x: number): string => `${x.toFixed(0)} ms`;
const refHost = process.env['BENCH_DOCKER_HOST'] ?? (existsSync('/var/tmp/dref/docker.sock') ? 'unix:///var/tmp/dref/docker.sock' : undefined);

const dir = await mkdtemp(join(tmpdir(), 'berth-build-bench-'));
const n = Math.floor(Math.random() * 0xffffff);
const tag = n.toString(16).padStart(6, '0');
const net = { bridge: `bb${tag}`, bip: `10.${200 + (n % 50)}.${(n >> 8) % 256}.0/24` };
await writeFile(join(dir, 'daemon.json'), JSON.stringify(net));
// This one only makes the busybox image the peers load: the berthd measured runs in a
// process of its own, as it does in use (in this process it shared its event loop and
// its forks with the bench's docker CLI runs).
const daemon = await startDaemon({ root: join(dir, 'root'), runRoot: join(dir, 'run'), configFile: join(dir, 'daemon.json') });
const base = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, DOCKER_CLI_HINTS: 'false' };
const helperEnv = { ...base, DOCKER_HOST: `unix://${daemon.socketPath}`, DOCKER_CONFIG: join(dir, 'dc-helper') };
let berthEnv: NodeJS.ProcessEnv = {};
const refEnv = refHost ? { ...base, DOCKER_HOST: refHost, DOCKER_CONFIG: join(dir, 'dc-ref') } : undefined;
const baseImage = `berth-bench-busybox-${tag}:latest`;
const refImages = new Set<string>();
const podmanRoot = ['--root', join(dir, 'podman', 'root'), '--runroot', join(dir, 'podman', 'run'), '--cgroup-manager=cgroupfs', '--events-backend=file', '--runtime', 'runc'];
let podmanUsed = false;
const children: { child: ChildProcess; net: typeof net }[] = [];

const ctx = join(dir, 'small');
await mkdir(ctx);
await writeFile(join(ctx, 'app.txt'), 'app\n'.repeat(100));
await writeFile(join(ctx, 'Dockerfile'), 'ARG BASE\nFROM $BASE\nCOPY app.txt /app/app.txt\nRUN echo built > /app/built\nCMD ["cat", "/app/built"]\n');

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** One docker build; `-q` prints the image ID, remembered for removal on the reference. */
async function dockerBuild(env: NodeJS.ProcessEnv, args: string[], context: string, cli = 'docker'): Promise<number> {
  const t0 = performance.now();
  const { stdout } = await run(cli, ['build', '-q', '--build-arg', `BASE=${baseImage}`, ...args, context], { env, timeout: 120_000 });
  const took = performance.now() - t0;
  if (env === refEnv || env['DOCKER_BUILDKIT'] === '1') refImages.add(stdout.trim());
  return took;
}

try {
  await daemon.engine.images.ensureBuiltin('busybox');
  await run('docker', ['tag', 'busybox', baseImage], { env: helperEnv });
  const saved = join(dir, 'busybox.tar');
  await run('docker', ['save', '-o', saved, baseImage], { env: helperEnv });
  berthEnv = await startBerthd(new URL('../../..', import.meta.url).pathname, 'this');
  await run('docker', ['load', '-i', saved], { env: berthEnv, timeout: 60_000 });

  const peers: { name: string; build: (noCache: boolean) => Promise<number> }[] = [
    { name: 'berthd (docker CLI, classic path)', build: (nc) => dockerBuild(berthEnv, [...(nc ? ['--no-cache'] : []), '-t', `bench-small-${tag}`], ctx) },
  ];
  const baselineTree = process.env['BENCH_BASELINE'];
  if (baselineTree) {
    const env = await startBerthd(baselineTree, 'baseline');
    await run('docker', ['load', '-i', saved], { env, timeout: 60_000 });
    peers.push({ name: 'berthd of BENCH_BASELINE', build: (nc) => dockerBuild(env, [...(nc ? ['--no-cache'] : []), '-t', `bench-small-${tag}`], ctx) });
  }
  if (refEnv) {
    await run('docker', ['load', '-i', saved], { env: refEnv, timeout: 60_000 });
    peers.push({ name: 'dockerd 20.10 classic builder', build: (nc) => dockerBuild(refEnv, [...(nc ? ['--no-cache'] : []), '-t', `bench-small-${tag}`], ctx) });
    const buildx = await run('docker', ['buildx', 'version'], { env: refEnv }).then(
      () => true,
      () => false,
    );
    // Without buildx, Debian's own docker.io client (20.10) still drives dockerd's BuildKit:
    // its `build` has the BuildKit session client built in.
    const builtinBuildKitCli = '/usr/bin/docker';
    const legacyCli = buildx
      ? undefined
      : await run(builtinBuildKitCli, ['version', '--format', '{{.Client.Version}}'], { env: refEnv }).then(
          (r) => (/^20\./.test(r.stdout.trim()) ? builtinBuildKitCli : undefined),
          () => undefined,
        );
    if (buildx || legacyCli) {
      const cli = legacyCli ?? 'docker';
      peers.push({ name: `dockerd 20.10 BuildKit${legacyCli ? ' (docker 20.10 CLI)' : ''}`, build: (nc) => dockerBuild({ ...refEnv, DOCKER_BUILDKIT: '1' }, [...(nc ? ['--no-cache'] : []), '-t', `bench-small-${tag}`], ctx, cli) });
    } else console.log('dockerd BuildKit: not measured (no buildx plugin for this docker CLI and no docker 20.10 CLI at /usr/bin/docker)');
  } else console.log('reference dockerd: not measured (set BENCH_DOCKER_HOST)');
  try {
    podmanUsed = true;
    const loaded = await run('podman', [...podmanRoot, 'load', '-i', saved], { timeout: 120_000 });
    const podmanBase = /Loaded image(?:\(s\))?: (\S+)/.exec(loaded.stdout + loaded.stderr)?.[1] ?? `localhost/${baseImage}`;
    const nofile = /Max open files\s+(\d+)/.exec(await readFile('/proc/self/limits', 'utf8'))?.[1] ?? '1024';
    const podmanBuild = async (nc: boolean): Promise<number> =>
      timed(() => run('podman', [...podmanRoot, 'build', '-q', '--layers', '--network', 'none', '--ulimit', `nofile=${nofile}:${nofile}`, '--pull=never', '--build-arg', `BASE=${podmanBase}`, ...(nc ? ['--no-cache'] : []), '-t', `bench-small-${tag}`, ctx], { timeout: 120_000 }));
    await podmanBuild(true);
    peers.push({ name: 'podman build', build: podmanBuild });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    console.log(`podman build: not measured (${(e.stderr?.trim() || e.message).split('\n').at(-1)})`);
  }

  for (const p of peers) await p.build(true); // warm-up
  const loadBefore = loadavg();
  const times = peers.map(() => ({ cold: [] as number[], cached: [] as number[] }));
  // The docker CLI's own floor: start, a ping and one small request (`docker version`).
  const cliFloor: number[] = [];
  for (let i = 0; i < N; i++) {
    cliFloor.push(await timed(() => run('docker', ['version'], { env: berthEnv })));
    for (const [k, p] of peers.entries()) {
      times[k]!.cold.push(await p.build(true));
      times[k]!.cached.push(await p.build(false));
    }
  }
  const load = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' ');
  console.log(`small Dockerfile (FROM, COPY, RUN, CMD), ${N} runs interleaved, medians (load average ${load(loadBefore)} before, ${load(loadavg())} after):`);
  for (const [k, p] of peers.entries()) console.log(`  ${p.name.padEnd(36)} median uncached ${ms(median(times[k]!.cold)).padStart(8)}  cached ${ms(median(times[k]!.cached)).padStart(8)}`);
  console.log(`  ${'docker CLI floor (docker version)'.padEnd(36)} median ${ms(median(cliFloor)).padStart(8)}`);
  console.log(`build median target: uncached <= 400 ms, cached <= 100 ms (berthd: ${ms(median(times[0]!.cold))} / ${ms(median(times[0]!.cached))})`);

  if (process.env['BENCH_CACHE_MOUNT'] !== '0') await cacheMount();
} finally {
  if (refEnv) {
    const { stdout } = await run('docker', ['images', '-q', '--no-trunc', `bench-small-${tag}`], { env: refEnv }).catch(() => ({ stdout: '' }));
    for (const id of [...refImages, ...stdout.split('\n')]) if (id.trim()) await run('docker', ['rmi', '-f', id.trim()], { env: refEnv }).catch(() => undefined);
    await run('docker', ['rmi', baseImage], { env: refEnv }).catch(() => undefined);
  }
  if (podmanUsed) await run('podman', [...podmanRoot, 'system', 'reset', '--force'], { timeout: 60_000 }).catch(() => undefined);
  await daemon.close();
  await removeDaemonNetwork(net.bridge, net.bip);
  for (const { child, net: cnet } of children) {
    const exited = new Promise((r) => child.once('exit', r));
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
    await removeDaemonNetwork(cnet.bridge, cnet.bip);
  }
  await rm(dir, { recursive: true, force: true });
}

/**
 * A cache mount saving its step's work: a fresh cache id per run (empty), then the step
 * again (a new ROUND) with that cache filled.
 */
async function cacheMount(): Promise<void> {
  const cm = join(dir, 'cache-mount');
  await mkdir(cm);
  await writeFile(
    join(cm, 'Dockerfile'),
    'ARG BASE\nFROM $BASE\nARG CACHE_ID ROUND\nRUN --mount=type=cache,id=$CACHE_ID,target=/cache [ -f /cache/dep ] || head -c 64m /dev/urandom | gzip -1 > /cache/dep; ls /cache > /cached; echo $ROUND > /round\n',
  );
  const empty: number[] = [];
  const filled: number[] = [];
  for (let i = 0; i < N; i++) {
    const id = `bench-${tag}-${i}`;
    empty.push(await dockerBuild(berthEnv, ['--build-arg', `CACHE_ID=${id}`, '--build-arg', 'ROUND=1', '-t', `bench-cm-${tag}`], cm));
    filled.push(await dockerBuild(berthEnv, ['--build-arg', `CACHE_ID=${id}`, '--build-arg', 'ROUND=2', '-t', `bench-cm-${tag}`], cm));
  }
  console.log(`cache mount (64 MB gzipped once by the RUN), berthd, ${N} runs, medians: empty cache ${ms(median(empty))}, reused ${ms(median(filled))}, ratio ${(median(empty) / median(filled)).toFixed(2)}x`);
}

/** The berthd of a checkout, from its source, on its own root, socket and bridge; the docker CLI's env for it. */
async function startBerthd(tree: string, name: string): Promise<NodeJS.ProcessEnv> {
  const bdir = join(dir, name);
  await mkdir(bdir);
  const m = (n + 1 + children.length) & 0xffffff;
  const bnet = { bridge: `bb${m.toString(16).padStart(6, '0')}`, bip: `10.${200 + (m % 50)}.${(m >> 8) % 256}.0/24` };
  await writeFile(join(bdir, 'daemon.json'), JSON.stringify(bnet));
  const socket = join(bdir, 'run', 'berthd.sock');
  const args = ['--conditions=source', '--import', 'tsx', join(tree, 'apps/daemon/src/main.ts'), '--root', join(bdir, 'root'), '--run-root', join(bdir, 'run'), '-H', `unix://${socket}`, '--config', join(bdir, 'daemon.json')];
  const child = spawn(process.execPath, args, { cwd: join(tree, 'apps/daemon'), stdio: ['ignore', 'ignore', 'inherit'] });
  children.push({ child, net: bnet });
  const env = { ...base, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(bdir, 'dc'), DOCKER_BUILDKIT: '0' };
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`the berthd of ${tree} exited (${child.exitCode})`);
    if (await run('docker', ['version'], { env }).then(() => true, () => false)) return env;
    if (i > 120) throw new Error(`the berthd of ${tree} did not answer within a minute`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
