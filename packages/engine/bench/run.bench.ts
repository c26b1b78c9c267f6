// Prints the engine's container start figures: create+start+wait+remove of `true` on the
// built-in busybox (network none), median over N runs, with each phase timed, and
// `docker run --rm`-like detached starts.  Run: node --conditions=source --import tsx bench/run.bench.ts
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { Engine } from '../src/index.js';
import { linuxDriverSet } from '@berth/driver-linux';

const N = Number(process.env.BENCH_RUNS ?? 20);
const dir = await mkdtemp('/tmp/be-bench-');
const engine = await Engine.open({ drivers: linuxDriverSet,  root: join(dir, 'root'), runRoot: join(dir, 'run') });
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
try {
  await engine.images.ensureBuiltin('busybox');
  const phases: Record<string, number[]> = { create: [], start: [], wait: [], remove: [], total: [] };
  for (let i = 0; i < N + 2; i++) {
    const t0 = performance.now();
    const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['true'], HostConfig: { NetworkMode: 'none' } });
    const t1 = performance.now();
    const w = engine.containers.wait(Id, 'next-exit');
    await engine.containers.start(Id);
    const t2 = performance.now();
    await w;
    const t3 = performance.now();
    await engine.containers.remove(Id);
    const t4 = performance.now();
    if (i < 2) continue; // warm-up
    phases.create!.push(t1 - t0);
    phases.start!.push(t2 - t1);
    phases.wait!.push(t3 - t2);
    phases.remove!.push(t4 - t3);
    phases.total!.push(t4 - t0);
  }
  for (const [k, v] of Object.entries(phases)) console.log(`engine run --rm true: ${k.padEnd(6)} median ${median(v).toFixed(1)} ms`);
  const detached: number[] = [];
  const ids: string[] = [];
  const detachedCount = Number(process.env.BENCH_DETACHED ?? 50);
  for (let i = 0; i < detachedCount; i++) {
    const t0 = performance.now();
    const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['sleep', '120'], HostConfig: { NetworkMode: 'none' } });
    await engine.containers.start(Id);
    detached.push(performance.now() - t0);
    ids.push(Id);
  }
  console.log(`engine detached start (create+start sleep): median ${median(detached).toFixed(1)} ms over ${detached.length}`);
  const t0 = performance.now();
  for (let i = 0; i < 20; i++) await engine.containers.list({ all: true });
  console.log(`engine containers.list with ${ids.length} containers: ${((performance.now() - t0) / 20).toFixed(2)} ms`);
  for (const id of ids) await engine.containers.remove(id, { force: true });
} finally {
  await engine.close();
  try {
    for (const m of execFileSync('findmnt', ['-rn', '-o', 'TARGET'], { encoding: 'utf8' }).split('\n').filter((x) => x.startsWith(dir)).reverse()) execFileSync('umount', ['-l', m]);
  } catch {
    // nothing mounted
  }
  await rm(dir, { recursive: true, force: true });
}
