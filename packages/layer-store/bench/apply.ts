// Layer-store benchmarks, printed as ratios against the floor measured in the same run:
//   apply of the big image's largest layer vs `tar -xzf` of the same blob,
//   ingest throughput vs `sha256sum`, and the diff of 10,000 changed files (vs `tar -czf`).
// Both sides write to the same filesystem: a journaled ext4 loop file made here (default;
// this machine's root ext4 has no journal and slows down after mass deletes), or tmpfs
// with BENCH_FS=tmpfs. BENCH_SCALE sets the big image's scale (default 1), BENCH_RUNS the
// number of alternating runs (default 3).
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBigImageLayout } from '@berth/fixtures';
import type { Digest } from '@berth/image-format';
import { applyLayer } from '../src/archive/apply.js';
import { FileContentStore } from '../src/content/file-store.js';
import { createDiff } from '../src/layer/commit.js';
import { OverlaySnapshotter } from '../src/snapshot/overlay.js';

const FS = process.env.BENCH_FS === 'tmpfs' ? 'tmpfs' : 'ext4';
const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (ms: number) => `${(ms / 1000).toFixed(3)} s`;
const time = async (fn: () => unknown) => {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
};

const base = await mkdtemp(join(FS === 'ext4' ? '/var/tmp' : tmpdir(), 'berth-bench-'));
const mnt = join(base, 'mnt');
await mkdir(mnt);
let mounted = false;
try {
  if (FS === 'ext4') {
    const img = join(base, 'fs.img');
    execFileSync('truncate', ['-s', '4G', img]);
    execFileSync('mkfs.ext4', ['-q', '-F', '-O', 'has_journal', img]);
    execFileSync('mount', ['-o', 'loop', img, mnt]);
  } else {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4g', 'tmpfs', mnt]);
  }
  mounted = true;
  console.log(`filesystem: ${FS === 'ext4' ? 'journaled ext4 on a loop file' : 'tmpfs'} (both sides on it); big image scale ${SCALE}; ${RUNS} runs`);

  const big = await buildBigImageLayout(undefined, { scale: SCALE });
  const layer = [...big.layers].sort((a, b) => b.size - a.size)[0]!;
  console.log(`largest layer: ${(layer.size / 1e6).toFixed(1)} MB gzip, ${(layer.uncompressedSize / 1e6).toFixed(1)} MB tar`);

  // --- apply vs tar -xzf -------------------------------------------------------------
  const tarTimes: number[] = [];
  const berthTimes: number[] = [];
  const gzipTimes: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const tdir = join(mnt, `tar-${i}`);
    const bdir = join(mnt, `berth-${i}`);
    await mkdir(tdir);
    await mkdir(bdir);
    execFileSync('sync', ['-f', mnt]);
    gzipTimes.push(await time(() => spawnSync('sh', ['-c', 'gzip -dc "$1" > /dev/null', 'sh', layer.path])));
    tarTimes.push(await time(() => execFileSync('tar', ['-xzf', layer.path, '-C', tdir, '--numeric-owner', '--same-permissions'])));
    execFileSync('sync', ['-f', mnt]);
    berthTimes.push(
      await time(() =>
        applyLayer(createReadStream(layer.path, { highWaterMark: 1 << 20 }), bdir, {
          compression: 'gzip',
          whiteouts: 'overlay',
          expectedDiffId: layer.diffId as Digest,
        }),
      ),
    );
    execFileSync('sync', ['-f', mnt]);
    await rm(tdir, { recursive: true, force: true });
    await rm(bdir, { recursive: true, force: true });
  }
  const applyRatio = median(berthTimes) / median(tarTimes);
  console.log(`apply: berth median ${fmt(median(berthTimes))} (${berthTimes.map(fmt).join(', ')})`);
  console.log(`apply: tar -xzf median ${fmt(median(tarTimes))} (${tarTimes.map(fmt).join(', ')}); gzip -dc alone median ${fmt(median(gzipTimes))}`);
  console.log(`apply ratio berth/tar = ${applyRatio.toFixed(2)} (target <= 1.0; berth also verifies the diffID)`);

  // --- ingest vs sha256sum ----------------------------------------------------------
  const store = await FileContentStore.open(join(mnt, 'store'));
  const ingestTimes: number[] = [];
  const shaTimes: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    shaTimes.push(await time(() => execFileSync('sha256sum', [layer.path])));
    ingestTimes.push(
      await time(() =>
        store.ingest(`bench-${i}`, { digest: layer.digest as Digest, size: layer.size }, createReadStream(layer.path, { highWaterMark: 1 << 20 })),
      ),
    );
    await store.delete(layer.digest as Digest);
  }
  const mbps = (ms: number) => layer.size / 1e6 / (ms / 1000);
  const ingestRatio = mbps(median(ingestTimes)) / mbps(median(shaTimes));
  console.log(`ingest: berth median ${fmt(median(ingestTimes))} = ${mbps(median(ingestTimes)).toFixed(0)} MB/s (hash + write + fsync + rename)`);
  console.log(`ingest: sha256sum median ${fmt(median(shaTimes))} = ${mbps(median(shaTimes)).toFixed(0)} MB/s`);
  console.log(`ingest throughput ratio berth/sha256sum = ${ingestRatio.toFixed(2)} (target >= 0.8)`);

  // --- diff of 10,000 changed files --------------------------------------------------
  const sn = await OverlaySnapshotter.open(join(mnt, 'store'), { db: store.db });
  await sn.prepare('bench-diff');
  const upper = (await sn.applyTarget('bench-diff')).dir;
  for (let d = 0; d < 100; d++) {
    await mkdir(join(upper, `dir${d}`));
    for (let f = 0; f < 100; f++) await writeFile(join(upper, `dir${d}`, `file${f}.txt`), `changed file ${d}/${f}\n`.repeat(100));
  }
  execFileSync('sync', ['-f', mnt]);
  const diffTimes: number[] = [];
  const tarczTimes: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    tarczTimes.push(await time(() => spawnSync('tar', ['-czf', join(mnt, 'peer.tgz'), '-C', upper, '.'])));
    diffTimes.push(await time(() => createDiff(store, sn, 'bench-diff', { ref: `diff-${i}` })));
  }
  console.log(`diff of 10,000 changed files: berth median ${fmt(median(diffTimes))} (${diffTimes.map(fmt).join(', ')}); tar -czf of the upper dir median ${fmt(median(tarczTimes))}`);
  console.log(`diff ratio berth/tar-czf = ${(median(diffTimes) / median(tarczTimes)).toFixed(2)}`);
  sn.close();
  store.close();
} finally {
  if (mounted) execFileSync('umount', [mnt]);
  await rm(base, { recursive: true, force: true });
}
