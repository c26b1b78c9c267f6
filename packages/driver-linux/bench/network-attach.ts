/*
 * Networking cost per container: CniNetworkManager.attach (netns + loopback + bridge/
 * host-local, + portmap with a published port) and detach (CNI DEL, iptables cleanup,
 * netns removal), on a network that already exists, without and with one published
 * port. Needs root. Prints medians.
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
  const plain = { attach: [] as number[], detach: [] as number[] };
  const published = { attach: [] as number[], detach: [] as number[] };
  const none: number[] = [];
  try {
    // Interleaved, so a load change on the (shared) machine hits every case alike.
    for (let i = 0; i < RUNS + 1; i++) {
      for (const [kind, into] of [['plain', plain], ['published', published]] as const) {
        const id = uniqueId('bench');
        const ports = kind === 'published' ? [{ hostIp: '127.0.0.1', hostPort: await freePort(), containerPort: 80, protocol: 'tcp' as const }] : [];
        const t0 = performance.now();
        await m.attach(id, { mode: 'bridge', networks: [{ name: 'bench' }], ports });
        const t1 = performance.now();
        await m.detach(id);
        const t2 = performance.now();
        if (i === 0) continue; // warm-up (first iptables chain creation, page cache)
        into.attach.push(t1 - t0);
        into.detach.push(t2 - t1);
      }
      // Reference point: a namespace with loopback only (`--network none`).
      const id = uniqueId('benchnone');
      const t0 = performance.now();
      await m.attach(id, { mode: 'none' });
      await m.detach(id);
      if (i > 0) none.push(performance.now() - t0);
    }
  } finally {
    await m.removeNetwork('bench').catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
  for (const [label, r] of [['no published port (docker run --rm)', plain], ['1 published port', published]] as const) {
    const total = r.attach.map((a, i) => a + (r.detach[i] ?? 0));
    console.log(`network bridge, ${label}: attach median ${median(r.attach).toFixed(1)} ms (p90 ${p90(r.attach).toFixed(1)}), detach median ${median(r.detach).toFixed(1)} ms (p90 ${p90(r.detach).toFixed(1)}), attach+detach median ${median(total).toFixed(1)} ms (n=${total.length})`);
  }
  console.log(`network none (netns + loopback) attach+detach: median ${median(none).toFixed(1)} ms`);
}

await main();
