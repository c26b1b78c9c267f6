/*
 * What the embedded DNS costs: attach+detach on the default network (no DNS there) and on
 * a user network (the listener opens with the first container and closes with the last),
 * each with the DNS on and off, interleaved; then the time of a name lookup from inside a
 * namespace (busybox nslookup, process start included, against `busybox true` as the
 * floor) and the RSS growth across the first user-network attach (listener opened). Needs root. Prints medians.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CniNetworkManager } from '../src/network/index.js';
import { execInNetns, freeSubnet, uniqueBridge, uniqueId } from '../src/network/test-support.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 15);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('network-dns: skipped (needs root)');
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'berth-dnsbench-'));
  const make = async (tag: string, dns: boolean) => {
    const m = new CniNetworkManager({
      stateDir: join(dir, tag, 'state'),
      netnsDir: join(dir, tag, 'netns'),
      defaultNetwork: { name: 'benchdefault', bridge: uniqueBridge(), subnet: await freeSubnet() },
      ...(dns ? { dns: { upstreams: [] } } : { dns: false as const }),
    });
    await m.ensureDefaultNetwork();
    await m.createNetwork({ name: 'user', bridge: uniqueBridge(), subnet: await freeSubnet() });
    return m;
  };
  const on = await make('on', true);
  const off = await make('off', false);
  const times: Record<string, number[]> = {};
  const lookups: number[] = [];
  const literal: number[] = [];
  let rssDelta = NaN;
  try {
    for (let i = 0; i < RUNS + 1; i++) {
      for (const [label, m] of [['dns on', on], ['dns off', off]] as const) {
        for (const net of [undefined, 'user']) {
          const id = uniqueId('bench');
          const t0 = performance.now();
          await m.attach(id, { mode: 'bridge', ...(net ? { networks: [{ name: net }] } : {}) });
          await m.detach(id);
          const key = `${net ?? 'default'} network, ${label}`;
          if (i > 0) (times[key] ??= []).push(performance.now() - t0);
        }
      }
    }
    // lookups: two namespaces on the user network, one asks for the other's name
    const a = uniqueId('bencha');
    const b = uniqueId('benchb');
    const before = process.memoryUsage().rss;
    const ra = await on.attach(a, { mode: 'bridge', networks: [{ name: 'user' }], hostname: 'alpha' });
    rssDelta = process.memoryUsage().rss - before;
    await on.attach(b, { mode: 'bridge', networks: [{ name: 'user' }], hostname: 'bravo' });
    const gw = ra.nameservers?.[0] ?? '';
    for (let i = 0; i < RUNS + 1; i++) {
      const t0 = performance.now();
      const r = await execInNetns(ra.netnsPath!, ['/bin/busybox', 'nslookup', 'bravo', gw]);
      const t1 = performance.now();
      await execInNetns(ra.netnsPath!, ['/bin/busybox', 'true']);
      const t2 = performance.now();
      if (r.code !== 0) throw new Error(`lookup failed: ${r.stdout} ${r.stderr}`);
      if (i > 0) {
        lookups.push(t1 - t0);
        literal.push(t2 - t1);
      }
    }
    await on.detach(a);
    await on.detach(b);
  } finally {
    for (const m of [on, off]) {
      for (const n of await m.listNetworks()) await m.removeNetwork(n.name).catch(() => undefined);
      m.close();
    }
    await rm(dir, { recursive: true, force: true });
  }
  for (const [k, xs] of Object.entries(times)) console.log(`attach+detach, ${k}: median ${median(xs).toFixed(1)} ms (n=${xs.length})`);
  console.log(`nslookup of a container name from a namespace: median ${median(lookups).toFixed(1)} ms (nsenter + busybox start included; \`busybox true\` the same way: ${median(literal).toFixed(1)} ms)`);
  console.log(`RSS while one network's DNS listener is open (first user-network attach): ${(rssDelta / 1024).toFixed(0)} KB more`);
}

await main();
