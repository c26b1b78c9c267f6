// Cold pull of the fixtures' `big` image (6 gzip layers) from a local registry through the
// engine (download, verify and unpack overlapped) vs `skopeo copy` (download only) in the
// same run, both into dirs on the same filesystem: a tmpfs the bench mounts (the root
// ext4 here has no journal, which makes many-file writes slow and erratic), or the disk
// with BENCH_FS=disk.  BENCH_SCALE=0.1 for a quick look.  Prints per-layer phase times.
// Run: node --conditions=source --import tsx bench/pull.bench.ts
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { buildBigImageLayout, pushLayoutWithSkopeo, startRegistry } from '@berth/fixtures';
import { Engine } from '../src/index.js';
import { linuxDriverSet } from '@berth/driver-linux';

const scale = Number(process.env.BENCH_SCALE ?? 1);
const runs = Number(process.env.BENCH_RUNS ?? 3);
// BENCH_GUNZIP=igzip,node alternates layer-store's gzip decoder run by run (same load);
// BENCH_STREAM_APPLY=1,0 alternates applying from the download stream and after the blob is stored.
const gunzips = (process.env.BENCH_GUNZIP ?? '').split(',').filter(Boolean);
const streamApply = (process.env.BENCH_STREAM_APPLY ?? '').split(',').filter(Boolean);
// BENCH_DOWNLOADS=3,6 alternates max-concurrent-downloads (combined with the above when both are given).
const downloads = (process.env.BENCH_DOWNLOADS ?? '').split(',').filter(Boolean);
const layout = await buildBigImageLayout(undefined, { scale });
const registry = await startRegistry();
const dir = await mkdtemp('/var/tmp/be-pull-');
const fs = process.env.BENCH_FS === 'disk' ? 'disk (/var/tmp, ext4 without journal)' : 'tmpfs';
if (fs === 'tmpfs') execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4g', 'tmpfs', dir]);
/** CPU time of this process and its reaped children (igzip/zstd decoders), ms. */
function cpuMs(): number {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  const tick = 10; // USER_HZ 100
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * tick;
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
try {
  const ref = `${registry.host}/bench/big:latest`;
  await pushLayoutWithSkopeo(layout.layoutDir, 'latest', ref);
  const engineTimes: number[] = [];
  const byGunzip = new Map<string, number[]>();
  const cpus: number[] = [];
  const cpuByGunzip = new Map<string, number[]>();
  const skopeoTimes: number[] = [];
  for (let i = 0; i < runs; i++) {
    const root = join(dir, `root${i}`);
    const labels: string[] = [];
    if (gunzips.length) labels.push(`gzip decoder ${gunzips[i % gunzips.length]!}`);
    if (streamApply.length) labels.push(`stream apply ${streamApply[i % streamApply.length]!}`);
    const dl = downloads.length ? Number(downloads[Math.floor(i / Math.max(1, streamApply.length)) % downloads.length]) : undefined;
    if (dl) labels.push(`downloads ${dl}`);
    const gunzip = labels.length ? labels.join(', ') : undefined;
    if (gunzips.length) process.env.BERTH_GUNZIP = gunzips[i % gunzips.length]!;
    if (streamApply.length) process.env.BERTH_PULL_STREAM_APPLY = streamApply[i % streamApply.length]!;
    const engine = await Engine.open({ drivers: linuxDriverSet,  root, runRoot: join(dir, `run${i}`), ...(dl ? { config: { 'max-concurrent-downloads': dl } } : {}) });
    const cpu0 = cpuMs();
    const t0 = performance.now();
    const phases: string[] = [];
    const at = (): string => ((performance.now() - t0) / 1000).toFixed(2);
    await engine.images.pull(ref, {
      onProgress: (m) => {
        if (m.status === 'Download complete' || m.status === 'Pull complete') phases.push(`${m.id} ${m.status === 'Pull complete' ? 'applied' : 'downloaded'} ${at()}`);
      },
    });
    engineTimes.push(performance.now() - t0);
    const cpu = cpuMs() - cpu0;
    cpus.push(cpu);
    if (gunzip) cpuByGunzip.set(gunzip, [...(cpuByGunzip.get(gunzip) ?? []), cpu]);
    if (gunzip) byGunzip.set(gunzip, [...(byGunzip.get(gunzip) ?? []), performance.now() - t0]);
    if (process.env.BENCH_PHASES !== '0') console.log(`run ${i}: ${phases.join(', ')}; done ${at()}`);
    await engine.close();
    const oci = join(dir, `oci${i}`);
    const t1 = performance.now();
    execFileSync('skopeo', ['--insecure-policy', 'copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${oci}:latest`]);
    skopeoTimes.push(performance.now() - t1);
    try {
      for (const m of execFileSync('findmnt', ['-rn', '-o', 'TARGET'], { encoding: 'utf8' }).split('\n').filter((x) => x.startsWith(root)).reverse()) execFileSync('umount', ['-l', m]);
    } catch {
      // nothing mounted
    }
    await rm(root, { recursive: true, force: true });
    await rm(oci, { recursive: true, force: true });
  }
  const mb = layout.totalSize / 1e6;
  console.log(`big image: ${layout.layers.length} layers, ${mb.toFixed(1)} MB compressed, ${(layout.totalUncompressedSize / 1e6).toFixed(1)} MB unpacked (scale ${scale})`);
  console.log(`engine cold pull + unpack: median ${(median(engineTimes) / 1000).toFixed(2)} s  (${engineTimes.map((x) => (x / 1000).toFixed(2)).join(', ')})`);
  for (const [g, xs] of byGunzip) {
    console.log(`  ${g}: median ${(median(xs) / 1000).toFixed(2)} s  (${xs.map((x) => (x / 1000).toFixed(2)).join(', ')}), CPU ${(median(cpuByGunzip.get(g)!) / 1000).toFixed(2)} s`);
  }
  console.log(`engine CPU per pull (this process + its decoder children): median ${(median(cpus) / 1000).toFixed(2)} s`);
  console.log(`skopeo copy (download only): median ${(median(skopeoTimes) / 1000).toFixed(2)} s`);
  console.log(`ratio engine/skopeo: ${(median(engineTimes) / median(skopeoTimes)).toFixed(2)}`);
  console.log(`filesystem: ${fs}; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
} finally {
  await registry.stop();
  if (fs === 'tmpfs') execFileSync('umount', [dir]);
  await rm(dir, { recursive: true, force: true });
}
