/*
 * Networking cost per container: CniNetworkManager.attach (netns + loopback + bridge/
 * host-local + portmap + firewall) and detach (CNI DEL, iptables cleanup, netns removal),
 * one published port, on a network that already exists. Needs root. Prints medians.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CniNetworkManager } from '../src/network/index.js';
import { freePort, freeSubnet, uniqueBridge, uniqueId } from '../src/network/test-support.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 15);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}
function p90(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.9))] ?? NaN;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('network-attach: skipped (needs root)');
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'berth-netbench-'));
  const m = new CniNetworkManager({ stateDir: join(dir, 'state'), netnsDir: join(dir, 'netns'), defaultNetwork: { name: 'benchdefault', bridge: uniqueBridge(), subnet: await freeSubnet() } });
  await m.createNetwork({ name: 'bench', bridge: uniqueBridge(), subnet: await freeSubnet() });
  const attach: number[] = [];
  const detach: number[] = [];
  const none: number[] = [];
  try {
    for (let i = 0; i < RUNS + 1; i++) {
      const id = uniqueId('bench');
      const port = await freePort();
      const t0 = performance.now();
      await m.attach(id, { mode: 'bridge', networks: [{ name: 'bench' }], ports: [{ hostIp: '127.0.0.1', hostPort: port, containerPort: 80, protocol: 'tcp' }] });
      const t1 = performance.now();
      await m.detach(id);
      const t2 = performance.now();
      if (i === 0) continue; // warm-up (first iptables chain creation, page cache)
      attach.push(t1 - t0);
      detach.push(t2 - t1);
    }
    // Reference point: a namespace with loopback only (`--network none`).
    for (let i = 0; i < RUNS; i++) {
      const id = uniqueId('benchnone');
      const t0 = performance.now();
      await m.attach(id, { mode: 'none' });
      await m.detach(id);
      none.push(performance.now() - t0);
    }
  } finally {
    await m.removeNetwork('bench').catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
  const total = attach.map((a, i) => a + (detach[i] ?? 0));
  console.log(`network attach (bridge+portmap+firewall, 1 port): median ${median(attach).toFixed(1)} ms, p90 ${p90(attach).toFixed(1)} ms (n=${attach.length})`);
  console.log(`network detach (CNI DEL + iptables cleanup + netns): median ${median(detach).toFixed(1)} ms, p90 ${p90(detach).toFixed(1)} ms`);
  console.log(`network attach+detach: median ${median(total).toFixed(1)} ms`);
  console.log(`network none (netns + loopback) attach+detach: median ${median(none).toFixed(1)} ms`);
}

await main();
