// Pull throughput: the fixtures' `big` image (~110 MB gzip, 6 layers) from a local
// registry into a cold FileBlobStore vs `skopeo copy docker://... oci:DIR` in the same
// run, both writing to the same filesystem (os.tmpdir()), both fsyncing blobs.
// Prints seconds, MB/s and the ratio Berth/skopeo (target <= 1.0), median of ROUNDS, for
// the default concurrency (3) and for 6 parallel downloads.
// Run: pnpm exec tsx --conditions=source bench/pull.ts [rounds] [scale]
// Both write to os.tmpdir() (same filesystem), both fsync each blob (skopeo does too).
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildBigImageLayout, makeTempDir, pushLayoutWithSkopeo, startRegistry } from '@berth/fixtures';
import { FileBlobStore, RegistryClient } from '../src/index.js';

const run = promisify(execFile);
const ROUNDS = Number(process.argv[2] ?? 5);
const SCALE = Number(process.argv[3] ?? 1);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const big = await buildBigImageLayout(undefined, { scale: SCALE });
const reg = await startRegistry();
const tmp = await makeTempDir('berth-bench-pull-');
try {
  await pushLayoutWithSkopeo(big.layoutDir, 'latest', `${reg.host}/big:latest`);
  const ref = `${reg.host}/big:latest`;
  const bytes = big.totalSize + big.configSize + big.manifestSize;
  const times = { berth: [] as number[], berth6: [] as number[], skopeo: [] as number[] };
  for (let i = 0; i < ROUNDS; i++) {
    // rotate who goes first so no one always gets the warmer page cache
    const all = ['berth', 'skopeo', 'berth6'] as const;
    const order = [...all.slice(i % 3), ...all.slice(0, i % 3)];
    for (const who of order) {
      const dir = join(tmp.path, `${who}-${i}`);
      const start = process.hrtime.bigint();
      if (who !== 'skopeo') {
        const client = new RegistryClient({ certsDir: join(tmp.path, 'no-certs') });
        const r = await client.pull(ref, new FileBlobStore(dir), who === 'berth6' ? { concurrency: 6 } : {});
        await client.close();
        if (r.manifestDigest !== big.manifestDigest) throw new Error(`berth pulled ${r.manifestDigest}, expected ${big.manifestDigest}`);
      } else {
        await run('skopeo', ['--insecure-policy', 'copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${dir}:latest`], {
          timeout: 600_000,
        });
        const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
        if (index.manifests[0]?.digest !== big.manifestDigest) throw new Error('skopeo wrote a different manifest');
      }
      times[who].push(Number(process.hrtime.bigint() - start) / 1e9);
    }
  }
  const b = median(times.berth);
  const b6 = median(times.berth6);
  const s = median(times.skopeo);
  const mbps = (sec: number) => (bytes / 1e6 / sec).toFixed(1);
  console.log(`pull of big:latest (${(bytes / 1e6).toFixed(1)} MB, ${big.layers.length} layers) from 127.0.0.1, median of ${ROUNDS}:`);
  console.log(`  berth  ${b.toFixed(3)} s  ${mbps(b)} MB/s   (all: ${times.berth.map((t) => t.toFixed(3)).join(' ')})`);
  console.log(`  berth -c6 ${b6.toFixed(3)} s  ${mbps(b6)} MB/s   (all: ${times.berth6.map((t) => t.toFixed(3)).join(' ')})`);
  console.log(`  skopeo ${s.toFixed(3)} s  ${mbps(s)} MB/s   (all: ${times.skopeo.map((t) => t.toFixed(3)).join(' ')})`);
  console.log(`  ratio berth/skopeo = ${(b / s).toFixed(2)} (default concurrency 3; target <= 1.0)`);
  console.log(`  ratio berth(concurrency 6)/skopeo = ${(b6 / s).toFixed(2)}`);
} finally {
  await reg.stop();
  await tmp.cleanup();
}
