/**
 * `docker run --rm`-like cycle through LinuxDriver: create, start+wait, delete of
 * /bin/true, with `--network none` and with a CNI bridge (the default network), the
 * two modes interleaved per iteration so machine noise hits both alike. Prints medians;
 * run with `tsx bench/cycle.ts [N]` as root. Env: BERTH_BENCH_RUNTIME=crun|runc.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBusyboxRootfs } from '@berth/fixtures';
import { CniNetworkManager, LinuxDriver } from '../src/index.js';
import { freeSubnet, uniqueBridge } from '../src/network/test-support.js';

const N = Number(process.argv[2] ?? process.env.BERTH_BENCH_N ?? 20);
const runtime = process.env.BERTH_BENCH_RUNTIME ?? 'crun';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

const base = await mkdtemp(join(tmpdir(), 'berth-bench-cycle-'));
await chmod(base, 0o755);
const manager = new CniNetworkManager({
  stateDir: join(base, 'net'),
  netnsDir: join(base, 'netns'),
  defaultNetwork: { name: `benchcycle${randomBytes(2).toString('hex')}`, bridge: uniqueBridge(), subnet: await freeSubnet() },
});
const driver = new LinuxDriver({ stateDir: join(base, 'state'), runtime, network: manager });
const phases = ['create', 'start+wait', 'delete', 'total'] as const;
const figures = new Map<string, Record<(typeof phases)[number], number[]>>();
try {
  const rootfs = join(base, 'rootfs');
  await buildBusyboxRootfs(rootfs);
  // two warm-up rounds: the bridge, iptables chains and the seccomp filter cache
  for (let i = -2; i < N; i++) {
    for (const mode of (i % 2 ? ['none', 'bridge'] : ['bridge', 'none']) as ('none' | 'bridge')[]) {
      const id = `bench-cycle-${randomBytes(4).toString('hex')}`;
      const t0 = performance.now();
      await driver.create({ id, rootfs: { path: rootfs }, process: { args: ['/bin/true'] }, network: { mode } });
      const t1 = performance.now();
      await driver.start(id);
      await driver.wait(id);
      const t2 = performance.now();
      await driver.delete(id);
      const t3 = performance.now();
      if (i < 0) continue;
      let f = figures.get(mode);
      if (!f) figures.set(mode, (f = { create: [], 'start+wait': [], delete: [], total: [] }));
      f.create.push(t1 - t0);
      f['start+wait'].push(t2 - t1);
      f.delete.push(t3 - t2);
      f.total.push(t3 - t0);
    }
  }
  console.log(`run --rm cycle through LinuxDriver (${runtime}), medians of ${N}:`);
  for (const [mode, f] of figures) {
    console.log(`  --network ${mode.padEnd(6)} ${phases.map((p) => `${p} ${median(f[p]).toFixed(1)} ms`).join('   ')}`);
  }
} finally {
  await driver.close();
  for (const n of await manager.listNetworks()) await manager.removeNetwork(n.name).catch(() => undefined);
  await rm(base, { recursive: true, force: true });
}
