// `docker build` (classic builder) through the engine: a context of many small files and one
// large one, Dockerfile FROM busybox + ENV + COPY + RUN + CMD; cold (no cache) and fully
// cached builds, medians of BENCH_RUNS. With BENCH_DOCKER_HOST=unix:///... (a dockerd that
// has a `busybox` image) the same context is built by `DOCKER_BUILDKIT=0 docker build` in
// the same run, interleaved. Prints the figures.
// Run: node --conditions=source --import tsx bench/build.bench.ts
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { Engine } from '../src/index.js';
import { linuxDriverSet } from '@berth/driver-linux';

const runs = Number(process.env.BENCH_RUNS ?? 5);
const smallFiles = Number(process.env.BENCH_FILES ?? 500);
const bigMb = Number(process.env.BENCH_BIG_MB ?? 32);
const dockerHost = process.env.BENCH_DOCKER_HOST;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const dir = await mkdtemp('/var/tmp/be-build-');
const ctx = join(dir, 'ctx');
await mkdir(join(ctx, 'src'), { recursive: true });
for (let i = 0; i < smallFiles; i++) await writeFile(join(ctx, 'src', `f${i}.txt`), `file ${i}\n`.repeat(20));
execFileSync('head', ['-c', `${bigMb}M`, '/dev/urandom'], { stdio: ['ignore', (await import('node:fs')).openSync(join(ctx, 'big.bin'), 'w'), 'ignore'] });
await writeFile(join(ctx, 'Dockerfile'), 'FROM busybox\nENV APP=/app\nWORKDIR /app\nCOPY . /app/\nRUN ls /app/src | wc -l > /app/count\nCMD ["cat", "/app/count"]\n');

const engine = await Engine.open({ drivers: linuxDriverSet,  root: join(dir, 'root'), runRoot: join(dir, 'run') });
/** The context as a tar stream, made by GNU tar (not timed separately: the docker CLI tars too). */
function contextTar(): NodeJS.ReadableStream {
  return spawn('tar', ['-c', '-C', ctx, '.'], { stdio: ['ignore', 'pipe', 'ignore'] }).stdout;
}
async function berth(noCache: boolean): Promise<number> {
  const t = performance.now();
  await engine.builder.build(contextTar() as never, { noCache, networkMode: 'none', tags: ['bench:latest'] });
  return performance.now() - t;
}
function docker(noCache: boolean): number {
  const t = performance.now();
  execFileSync('docker', ['build', '-q', ...(noCache ? ['--no-cache'] : []), '-t', 'bench:latest', ctx], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, DOCKER_HOST: dockerHost!, DOCKER_BUILDKIT: '0' },
    stdio: 'ignore',
  });
  return performance.now() - t;
}
try {
  await engine.images.ensureBuiltin('busybox');
  await berth(true); // warm-up (busybox unpacked, page cache)
  if (dockerHost) docker(true);
  const b = { cold: [] as number[], cached: [] as number[] };
  const d = { cold: [] as number[], cached: [] as number[] };
  for (let i = 0; i < runs; i++) {
    b.cold.push(await berth(true));
    b.cached.push(await berth(false));
    if (dockerHost) {
      d.cold.push(docker(true));
      d.cached.push(docker(false));
    }
  }
  console.log(`context: ${smallFiles} small files + ${bigMb} MB file; ${runs} runs, medians; store on /var/tmp (ext4)`);
  console.log(`berth engine  cold ${median(b.cold).toFixed(0)} ms  cached ${median(b.cached).toFixed(0)} ms`);
  if (dockerHost) console.log(`dockerd (classic, via docker CLI)  cold ${median(d.cold).toFixed(0)} ms  cached ${median(d.cached).toFixed(0)} ms`);
} finally {
  for (const c of await engine.containers.list({ all: true })) await engine.containers.remove(c.Id, { force: true }).catch(() => undefined);
  await engine.close();
  try {
    const mounts = execFileSync('findmnt', ['-rn', '-o', 'TARGET'], { encoding: 'utf8' }).split('\n').filter((m) => m.startsWith(dir)).sort().reverse();
    for (const m of mounts) execFileSync('umount', ['-l', m]);
  } catch {
    // nothing mounted
  }
  await rm(dir, { recursive: true, force: true });
}
