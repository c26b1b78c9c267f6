// Prints docker cp figures: putArchive (PUT /containers/{id}/archive) of a tar of many
// small files and of one large file into a stopped and a running container, against the
// floor `tar -xf` of the same tar into a plain directory on the same filesystem,
// and getArchive out of a running container against `tar -cf`. Medians over N runs.
// Run: node --conditions=source --import tsx bench/cp.bench.ts
import { execFileSync, spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import tar from 'tar-stream';
import { pipeline } from 'node:stream/promises';
import { Engine } from '../src/index.js';
import { linuxDriverSet } from '@berth/driver-linux';

const N = Number(process.env.BENCH_RUNS ?? 5);
const SMALL = Number(process.env.BENCH_FILES ?? 2000);
// Everything on one journaled ext4 loop file made here: this machine's root ext4 has no
// journal and creates files 3-8x slower for minutes after deletes, which swamps the figures.
const dir = await mkdtemp('/tmp/be-cp-bench-');
const image = `${dir}.img`;
execFileSync('truncate', ['-s', '4G', image]);
execFileSync('mkfs.ext4', ['-q', '-F', image]);
execFileSync('mount', ['-o', 'loop', image, dir]);
const engine = await Engine.open({ drivers: linuxDriverSet,  root: join(dir, 'root'), runRoot: join(dir, 'run') });
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const sink = (): Writable => new Writable({ write: (_c, _e, cb) => cb() });

async function makeTars(): Promise<{ small: string; large: string }> {
  const src = join(dir, 'src');
  await mkdir(join(src, 'many'), { recursive: true });
  const body = Buffer.alloc(4096, 'x');
  for (let i = 0; i < SMALL; i++) {
    if (i % 100 === 0) await mkdir(join(src, 'many', `d${i / 100}`));
    await writeFile(join(src, 'many', `d${Math.floor(i / 100)}`, `f${i}`), body);
  }
  await mkdir(join(src, 'big'));
  execFileSync('dd', ['if=/dev/urandom', `of=${join(src, 'big', 'blob')}`, 'bs=1M', 'count=128', 'status=none']);
  const small = join(dir, 'small.tar');
  const large = join(dir, 'large.tar');
  execFileSync('tar', ['-C', src, '-cf', small, 'many']);
  execFileSync('tar', ['-C', src, '-cf', large, 'big']);
  return { small, large };
}

/** A tar holding one empty directory. */
async function dirTar(name: string): Promise<Buffer> {
  const pack = tar.pack();
  pack.entry({ name: `${name}/`, type: 'directory', mode: 0o755 });
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function time(fn: () => Promise<void>, before?: () => Promise<void>): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < N; i++) {
    await before?.();
    const t0 = performance.now();
    await fn();
    xs.push(performance.now() - t0);
  }
  return median(xs);
}

try {
  await engine.images.ensureBuiltin('busybox');
  const { small, large } = await makeTars();
  const stopped = (await engine.containers.create({ Image: 'busybox', Cmd: ['sleep', '600'], HostConfig: { NetworkMode: 'none' } })).Id;
  const running = (await engine.containers.create({ Image: 'busybox', Cmd: ['sleep', '600'], HostConfig: { NetworkMode: 'none' } })).Id;
  await engine.containers.start(running);
  const floorDir = join(dir, 'floor');
  for (const [label, tarFile] of [
    [`${SMALL} x 4 KiB files`, small],
    ['one 128 MiB file', large],
  ] as const) {
    const floor = await time(
      async () => void execFileSync('tar', ['-C', floorDir, '-xf', tarFile]),
      async () => {
        await rm(floorDir, { recursive: true, force: true });
        await mkdir(floorDir);
      },
    );
    // A fresh destination per run (made untimed), as the floor's.
    let run = 0;
    const into = async (id: string): Promise<number> =>
      time(
        async () => engine.containers.putArchive(id, `/tmp/r${run}`, createReadStream(tarFile)),
        async () => engine.containers.putArchive(id, '/tmp', Readable.from([await dirTar(`r${++run}`)])),
      );
    const s = await into(stopped);
    const r = await into(running);
    console.log(`cp into container, ${label}: tar -xf ${floor.toFixed(0)} ms | stopped ${s.toFixed(0)} ms (${(s / floor).toFixed(2)}x) | running ${r.toFixed(0)} ms (${(r / floor).toFixed(2)}x)`);
  }
  const out = await time(async () => {
    const { tar } = await engine.containers.getArchive(running, `/tmp/r${N + 1}/many`);
    await pipeline(tar, sink());
  });
  execFileSync('tar', ['-C', floorDir, '-xf', small]);
  // (to a pipe: GNU tar skips reading the files when the archive is /dev/null)
  const outFloor = await time(async () => {
    const child = spawn('tar', ['-C', floorDir, '-cf', '-', 'many'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await pipeline(child.stdout, sink());
  });
  console.log(`cp out of a running container, ${SMALL} files: getArchive ${out.toFixed(0)} ms | tar -cf ${outFloor.toFixed(0)} ms (${(out / outFloor).toFixed(2)}x)`);
  await engine.containers.remove(running, { force: true });
  await engine.containers.remove(stopped, { force: true });
} finally {
  await engine.close();
  try {
    for (const m of execFileSync('findmnt', ['-rn', '-o', 'TARGET'], { encoding: 'utf8' }).split('\n').filter((x) => x.startsWith(dir + '/')).reverse()) execFileSync('umount', ['-l', m]);
  } catch {
    // nothing mounted
  }
  execFileSync('umount', [dir]);
  await rm(dir, { recursive: true, force: true });
  await rm(image, { force: true });
}
