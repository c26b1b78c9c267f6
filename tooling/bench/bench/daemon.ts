// End-to-end: berthd (driven by the real `docker` CLI and by `berth`) against its peers in
// the same run — Debian's dockerd 20.10 (+ its containerd), podman 4.3 and raw crun/runc.
// Sections (each independent; a failing one prints `SKIPPED <name>: <reason>`):
//   rss       idle RSS of berthd vs dockerd + containerd; with one running container
//   run       `run --rm busybox true` (docker CLI via berthd, berth CLI, dockerd, podman, crun, runc)
//   detached  50 detached starts (`run -d busybox sleep 300`), time per start
//   list      GET /containers/json with 100 containers; `docker ps` / `berth ps` wall time
//   version   `berth --version` and `berth ps -a` (10 containers) vs `node -e 0`, as installed;
//             BENCH_CLI_BEFORE=<another build's berth.js> measures that build too, in the same rounds
//   profile   where berthd's time goes in `run --rm`: request + child-process timeline
//             (strace of execve) and a CPU profile (node --cpu-prof)
//   pull      cold pull of the fixtures' big image through berthd vs dockerd vs podman
// All stores sit on one fresh journaled ext4 loop file (BENCH_FS=tmpfs for a tmpfs).
// Env: BENCH_RUNS (default 10), BENCH_SECTIONS=run,pull (default all), BENCH_PULL_ROUNDS (3).
// Run: pnpm bench daemon   (or node --conditions=source --import tsx bench/daemon.ts)
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildBigImageLayout, buildBusyboxLayout, pushLayoutWithSkopeo, startRegistry, type RunningRegistry } from '@berth/fixtures';
import { BERTH_CLI_DIST, BERTHD_DIST, podmanArgs, startBerthd, startDockerd, type RunningDaemon } from '../src/daemons.js';
import { createBridge, deleteLink, deleteRulesMentioning, deviceName, freeSubnet } from '../src/network.js';
import { killPid, processesMentioning, rssOf, run, sleep, spawnLogged, stopProcess, tryRun } from '../src/proc.js';
import { makeRawBundle } from '../src/raw-runtime.js';
import { reportRunRmProfile } from '../src/run-rm-profile.js';
import { cliStartupLines } from '../src/cli-startup.js';
import { UnixHttp } from '../src/unix-http.js';
import { mountScratchFs, unmountTree, type ScratchFs } from '../src/scratch-fs.js';
import { fmtMiB, fmtMs, fmtRatio, median, medianLine, timed } from '../src/stats.js';

const N = Math.max(3, Number(process.env['BENCH_RUNS'] ?? 10));
const PULL_ROUNDS = Math.max(1, Number(process.env['BENCH_PULL_ROUNDS'] ?? 3));
const wanted = (process.env['BENCH_SECTIONS'] ?? '').split(',').filter(Boolean);
const table: string[] = [];
const record = (line: string): void => {
  console.log(line);
  table.push(line);
};

/** `--ulimit` flags podman needs here (podman 4.3 has no `--ulimit host`): nofile at this process's limits. */
async function hostUlimits(): Promise<string[]> {
  const limits = await readFile('/proc/self/limits', 'utf8');
  const out: string[] = [];
  const m = limits.match(/^Max open files\s+(\d+)\s+(\d+)/m);
  if (m) out.push('--ulimit', `nofile=${m[1]}:${m[2]}`);
  // podman's own nproc default is above what runc may set here; a lower limit is always allowed
  out.push('--ulimit', 'nproc=4096:4096');
  return out;
}

/** CPU of a process in clock ticks (1/100 s here): its own, and of the children it waited for. */
async function cpuTicksOf(pid: number): Promise<{ self: number; children: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { self: Number(f[11]) + Number(f[12]), children: Number(f[13]) + Number(f[14]) };
}

async function section(name: string, fn: () => Promise<void>): Promise<void> {
  if (wanted.length && !wanted.includes(name)) return;
  console.log(`\n--- ${name}`);
  const t0 = performance.now();
  try {
    await fn();
  } catch (err) {
    const reason = ((err as Error).message ?? String(err)).split('\n').slice(0, 3).join(' | ');
    record(`SKIPPED ${name}: ${reason}`);
  }
  console.log(`(${name} took ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

// ---------------------------------------------------------------- setup
const base = await mkdtemp('/tmp/bbd-');
let fs: ScratchFs | undefined;
let storeDir = join(base, 'stores');
let fsNote = 'root fs (ext4 without journal)';
let registry: RunningRegistry | undefined;
let berthd: RunningDaemon | undefined;
// BENCH_BERTHD_BEFORE=<another build's apps/daemon/dist/berthd.js>: that berthd too, in the
// run section, interleaved with this one (a change's before/after under the same load)
let berthdBefore: RunningDaemon | undefined;
const berthdBeforeDist = process.env['BENCH_BERTHD_BEFORE'];
const beforeBridge = deviceName('by');
let beforeSubnet = '';
let dockerd: RunningDaemon | undefined;
let podman: string[] | undefined;
const berthBridge = deviceName('bx');
const dockerBridge = deviceName('dx');
let berthSubnet = '';
let dockerBridgeMade = false;
let busyboxRef = '';
let berthNet: string[] = [];
let berthdFreshRss = NaN;
const notes: string[] = [];

const docker = (d: RunningDaemon, args: string[], timeoutMs = 60_000) => run('docker', args, { env: d.dockerEnv, timeoutMs });
const berthCli = (d: RunningDaemon, args: string[]) => run(process.execPath, [BERTH_CLI_DIST, ...args], { env: { ...d.dockerEnv, BERTH_HOST: d.host }, timeoutMs: 60_000 });
// root here lacks CAP_SYS_RESOURCE: podman's default nofile (1048576) fails, the host's limits work
const PODMAN_RUN = ['run', ...(await hostUlimits())];
const pod = (args: string[], timeoutMs = 120_000) => run('podman', [...(podman ?? []), ...args], { timeoutMs });

async function startOurBerthd(extra: { logLevel?: string; wrap?: string[]; nodeFlags?: string[] } = {}): Promise<RunningDaemon> {
  return startBerthd({ root: join(storeDir, 'berthd'), runRoot: join(base, 'br'), home: join(base, 'bh'), bridge: berthBridge, bip: berthSubnet, ...extra });
}

/** Removes every container of a docker-API daemon (bounded). */
async function removeAllContainers(d: RunningDaemon): Promise<void> {
  const ids = (await docker(d, ['ps', '-aq']).catch(() => ({ stdout: '' }))).stdout.split('\n').filter(Boolean);
  for (let i = 0; i < ids.length; i += 25) await docker(d, ['rm', '-f', ...ids.slice(i, i + 25)], 120_000).catch(() => undefined);
}

try {
  console.log(`berthd bench: ${N} runs per figure; load average ${(await run('cat', ['/proc/loadavg'])).stdout.trim()}`);
  try {
    fs = await mountScratchFs(base);
    storeDir = fs.dir;
    fsNote = fs.kind;
  } catch (err) {
    notes.push(`scratch fs failed (${(err as Error).message}); stores on the root fs`);
  }
  await mkdir(storeDir, { recursive: true });
  console.log(`stores (berthd, dockerd, podman, registry) on: ${fsNote}`);

  // registry with busybox, shared by all peers
  try {
    registry = await startRegistry({ dataDir: join(storeDir, 'registry') });
    const layout = await buildBusyboxLayout();
    busyboxRef = `${registry.host}/bench/busybox:latest`;
    await pushLayoutWithSkopeo(layout.layoutDir, 'latest', busyboxRef);
  } catch (err) {
    record(`SKIPPED registry: ${(err as Error).message.split('\n')[0]} (no image for the peers)`);
  }

  try {
    berthSubnet = (await freeSubnet(10, Array.from({ length: 50 }, (_, i) => 200 + i))).cidr;
    berthd = await startOurBerthd();
    console.log(`berthd: ${berthd.describe}`);
    await sleep(500);
    berthdFreshRss = await rssOf(berthd.pid);
    if (busyboxRef) await docker(berthd, ['pull', '-q', busyboxRef], 120_000);
  } catch (err) {
    record(`SKIPPED berthd: ${(err as Error).message.split('\n').slice(0, 3).join(' | ')}`);
    await berthd?.stop();
    berthd = undefined;
  }

  if (berthdBeforeDist) {
    try {
      beforeSubnet = (await freeSubnet(10, Array.from({ length: 50 }, (_, i) => 150 + i))).cidr;
      berthdBefore = await startBerthd({ root: join(storeDir, 'berthd-before'), runRoot: join(base, 'bbr'), home: join(base, 'bbh'), bridge: beforeBridge, bip: beforeSubnet, dist: berthdBeforeDist });
      console.log(`berthd before: ${berthdBeforeDist}`);
      if (busyboxRef) await docker(berthdBefore, ['pull', '-q', busyboxRef], 120_000);
    } catch (err) {
      record(`SKIPPED berthd before: ${(err as Error).message.split('\n').slice(0, 3).join(' | ')}`);
      await berthdBefore?.stop();
      berthdBefore = undefined;
    }
  }

  try {
    const sub = await freeSubnet(172, [28, 29, 30, 31]);
    try {
      await createBridge(dockerBridge, `${sub.gateway}/24`);
      dockerBridgeMade = true;
    } catch (err) {
      notes.push(`dockerd bridge not made (${(err as Error).message}); dockerd runs with --bridge=none`);
    }
    dockerd = await startDockerd({ dataRoot: join(storeDir, 'dockerd'), execRoot: join(base, 'dr'), home: join(base, 'dh'), ...(dockerBridgeMade ? { bridge: dockerBridge } : {}) });
    console.log(`dockerd: ${dockerd.describe}`);
    if (busyboxRef) await docker(dockerd, ['pull', '-q', busyboxRef], 120_000);
  } catch (err) {
    record(`SKIPPED dockerd: ${(err as Error).message.split('\n').slice(0, 3).join(' | ')}`);
    await dockerd?.stop();
    dockerd = undefined;
  }

  try {
    podman = podmanArgs(join(storeDir, 'podman'), join(base, 'pr'), join(base, 'pt'));
    if (!busyboxRef) throw new Error('no registry image');
    await pod(['pull', '-q', '--tls-verify=false', busyboxRef]);
    const v = (await run('podman', ['--version'])).stdout.trim();
    console.log(`podman: ${v}, ${podman.join(' ')}`);
  } catch (err) {
    record(`SKIPPED podman: ${(err as Error).message.split('\n')[0]}`);
    podman = undefined;
  }

  // berthd's default network: the bridge when it works here, else none (said in the output)
  if (berthd && busyboxRef) {
    try {
      await docker(berthd, ['run', '--rm', busyboxRef, 'true']);
    } catch (err) {
      berthNet = ['--network', 'none'];
      notes.push(`berthd default network failed (${(err as Error).message.split('\n')[0]}); berthd 'default' figures use --network none`);
    }
  }

  // ---------------------------------------------------------------- rss
  await section('rss', async () => {
    const rows: string[] = [];
    let berthRss = NaN;
    let dockerRss = NaN;
    if (berthd) {
      await sleep(1_000);
      berthRss = await rssOf(berthd.pid);
      rows.push(`idle RSS berthd: ${fmtMiB(berthdFreshRss)} right after start; ${fmtMiB(berthRss)} after pulling busybox (no containers)`);
    }
    if (dockerd) {
      const procs = await processesMentioning(join(base, 'dr'));
      const containerd = procs.filter((p) => p.comm === 'containerd');
      dockerRss = (await rssOf(dockerd.pid)) + containerd.reduce((a, p) => a + p.rssBytes, 0);
      rows.push(`idle RSS dockerd + containerd: ${fmtMiB(dockerRss)} (containerd ${fmtMiB(containerd.reduce((a, p) => a + p.rssBytes, 0))})`);
    }
    for (const r of rows) record(r);
    if (berthd && dockerd) record(`idle RSS ratio berthd/(dockerd+containerd): ${fmtRatio(berthRss, dockerRss)} (target berthd <= 50 MB)`);
    // one running container: the daemon plus its per-container monitor
    for (const d of [berthd, berthdBefore, dockerd]) {
      if (!d || !busyboxRef) continue;
      const id = (await docker(d, ['run', '-d', ...(d === berthd ? berthNet : []), busyboxRef, 'sleep', '300'])).stdout.trim();
      await sleep(1_000);
      const mentioning = (await processesMentioning(id.slice(0, 12))).filter((p) => /conmon|containerd-shim/.test(p.comm));
      const monitor = mentioning.reduce((a, p) => a + p.rssBytes, 0);
      let daemonRss = await rssOf(d.pid);
      if (d === dockerd) daemonRss += (await processesMentioning(join(base, 'dr'))).filter((p) => p.comm === 'containerd').reduce((a, p) => a + p.rssBytes, 0);
      record(
        `RSS with one running container ${d.name}: ${fmtMiB(daemonRss + monitor)} (${d === dockerd ? 'dockerd + containerd' : 'berthd'} ${fmtMiB(daemonRss)} + ${mentioning.map((p) => `${p.comm} ${fmtMiB(p.rssBytes)}`).join(' + ') || 'no monitor found'})`,
      );
      await docker(d, ['rm', '-f', id]);
    }
    if (podman && busyboxRef) {
      const id = (await pod([...PODMAN_RUN, '-d', busyboxRef, 'sleep', '300'])).stdout.trim();
      await sleep(1_000);
      const mon = (await processesMentioning(id.slice(0, 12))).filter((p) => p.comm === 'conmon');
      record(`RSS with one running container podman (no daemon): ${mon.map((p) => `conmon ${fmtMiB(p.rssBytes)}`).join(' + ') || 'no conmon found'}`);
      await pod(['rm', '-f', id]);
    }
  });

  // ---------------------------------------------------------------- run --rm
  await section('run', async () => {
    if (!busyboxRef) throw new Error('no busybox image in a registry');
    interface Variant {
      name: string;
      go: () => Promise<unknown>;
      samples: number[];
      failed?: string;
    }
    const variants: Variant[] = [];
    const add = (name: string, go: () => Promise<unknown>) => variants.push({ name, go, samples: [] });
    if (berthd) {
      const b = berthd;
      add(`docker CLI -> berthd (${berthNet.length ? 'network none' : 'default bridge'})`, () => docker(b, ['run', '--rm', ...berthNet, busyboxRef, 'true']));
      add('docker CLI -> berthd (network none)', () => docker(b, ['run', '--rm', '--network', 'none', busyboxRef, 'true']));
      if (existsSync(BERTH_CLI_DIST)) add(`berth CLI -> berthd (${berthNet.length ? 'network none' : 'default bridge'})`, () => berthCli(b, ['run', '--rm', ...berthNet, busyboxRef, 'true']));
      else record('SKIPPED run/berth CLI: apps/cli/dist/berth.js not built');
      add(`docker CLI -> berthd -p 127.0.0.1::80 (${berthNet.length ? 'network none' : 'default bridge'})`, () => docker(b, ['run', '--rm', ...berthNet, '-p', '127.0.0.1::80', busyboxRef, 'true']));
    }
    if (berthdBefore) {
      const b = berthdBefore;
      add('docker CLI -> berthd before (default bridge)', () => docker(b, ['run', '--rm', busyboxRef, 'true']));
      add('docker CLI -> berthd before -p 127.0.0.1::80 (default bridge)', () => docker(b, ['run', '--rm', '-p', '127.0.0.1::80', busyboxRef, 'true']));
    }
    if (dockerd) {
      const d = dockerd;
      add(`docker CLI -> dockerd (${dockerBridgeMade ? 'default bridge' : 'bridge=none'})`, () => docker(d, ['run', '--rm', busyboxRef, 'true']));
      add('docker CLI -> dockerd (network none)', () => docker(d, ['run', '--rm', '--network', 'none', busyboxRef, 'true']));
      add(`docker CLI -> dockerd -p 127.0.0.1::80 (${dockerBridgeMade ? 'default bridge' : 'bridge=none'})`, () => docker(d, ['run', '--rm', '-p', '127.0.0.1::80', busyboxRef, 'true']));
    }
    if (podman) {
      add('podman run --rm (default netavark bridge)', () => pod([...PODMAN_RUN, '--rm', busyboxRef, 'true']));
      add('podman run --rm (network none)', () => pod([...PODMAN_RUN, '--rm', '--network', 'none', busyboxRef, 'true']));
    }
    const bundle = await makeRawBundle(join(base, 'raw')).catch((err: Error) => {
      record(`SKIPPED run/raw runtimes: ${err.message}`);
      return undefined;
    });
    if (bundle) {
      for (const rt of ['crun', 'runc'] as const) {
        const c = bundle.command(rt);
        add(`raw ${rt} run (own netns, no network)`, () => run(c.cmd, bundle.command(rt).args, { timeoutMs: 30_000 }));
      }
      console.log(`raw bundle: ${bundle.note}`);
    }
    // interleaved rounds, so load from the other engineers on this machine hits all alike
    for (let round = 0; round < N + 1; round++) {
      for (const v of variants) {
        if (v.failed) continue;
        try {
          const t = await timed(v.go);
          if (round > 0) v.samples.push(t);
        } catch (err) {
          v.failed = (err as Error).message.split('\n')[0];
          record(`SKIPPED run/${v.name}: ${v.failed}`);
        }
      }
    }
    for (const v of variants) if (!v.failed) record(medianLine(`run --rm true: ${v.name}`, v.samples));
    const m = (prefix: string) => {
      const v = variants.find((x) => x.name.startsWith(prefix) && !x.failed);
      return v ? median(v.samples) : NaN;
    };
    const bDef = m('docker CLI -> berthd (');
    const bNone = m('docker CLI -> berthd (network none)');
    const dDef = m('docker CLI -> dockerd (');
    const dNone = m('docker CLI -> dockerd (network none)');
    const cli = m('berth CLI');
    record(`run --rm ratio berthd/dockerd (default networks): ${fmtRatio(bDef, dDef)} (target <= 0.3x; berthd median ${fmtMs(bDef)}, target <= 130 ms)`);
    record(`run --rm ratio berthd/dockerd (network none): ${fmtRatio(bNone, dNone)}`);
    record(`run --rm ratio berthd/podman (default networks): ${fmtRatio(bDef, m('podman run --rm (default'))}; (network none): ${fmtRatio(bNone, m('podman run --rm (network none)'))}`);
    record(`run --rm ratio berthd/raw crun (network none): ${fmtRatio(bNone, m('raw crun'))}; berth CLI/docker CLI via berthd: ${fmtRatio(cli, bDef)}`);
  });

  // ---------------------------------------------------------------- 50 detached starts
  await section('detached', async () => {
    if (!busyboxRef) throw new Error('no busybox image in a registry');
    const peers: { name: string; start: () => Promise<string>; rm: (ids: string[]) => Promise<unknown> }[] = [];
    if (berthd) {
      const b = berthd;
      peers.push({ name: `berthd (${berthNet.length ? 'network none' : 'default bridge'})`, start: async () => (await docker(b, ['run', '-d', ...berthNet, busyboxRef, 'sleep', '300'])).stdout.trim(), rm: (ids) => docker(b, ['rm', '-f', ...ids], 180_000) });
    }
    if (dockerd) {
      const d = dockerd;
      peers.push({ name: `dockerd (${dockerBridgeMade ? 'default bridge' : 'bridge=none'})`, start: async () => (await docker(d, ['run', '-d', busyboxRef, 'sleep', '300'])).stdout.trim(), rm: (ids) => docker(d, ['rm', '-f', ...ids], 180_000) });
    }
    if (podman) peers.push({ name: 'podman (default netavark bridge)', start: async () => (await pod([...PODMAN_RUN, '-d', busyboxRef, 'sleep', '300'])).stdout.trim(), rm: (ids) => pod(['rm', '-f', '-t', '0', ...ids], 180_000) });
    const per: Record<string, number> = {};
    for (const p of peers) {
      const ids: string[] = [];
      const samples: number[] = [];
      try {
        for (let i = 0; i < 50; i++) {
          let id = '';
          samples.push(await timed(async () => (id = await p.start())));
          ids.push(id);
        }
        per[p.name] = median(samples);
        record(`${medianLine(`50 detached starts: ${p.name} per start`, samples)}, total ${(samples.reduce((a, b) => a + b, 0) / 1000).toFixed(2)} s`);
      } catch (err) {
        record(`SKIPPED detached/${p.name}: after ${ids.length} starts: ${(err as Error).message.split('\n')[0]}`);
      } finally {
        const t = await timed(async () => {
          for (let i = 0; i < ids.length; i += 25) await p.rm(ids.slice(i, i + 25)).catch(() => undefined);
        });
        if (ids.length) console.log(`  removing ${ids.length} (rm -f): ${fmtMs(t)}`);
      }
    }
    const [b, d, pm] = [Object.entries(per).find(([k]) => k.startsWith('berthd'))?.[1] ?? NaN, Object.entries(per).find(([k]) => k.startsWith('dockerd'))?.[1] ?? NaN, Object.entries(per).find(([k]) => k.startsWith('podman'))?.[1] ?? NaN];
    record(`detached start ratio berthd/dockerd: ${fmtRatio(b, d)}, berthd/podman: ${fmtRatio(b, pm)} (target <= 80 ms per start)`);
  });

  // ---------------------------------------------------------------- list with 100 containers
  await section('list', async () => {
    if (!busyboxRef) throw new Error('no busybox image in a registry');
    const results: Record<string, number> = {};
    for (const d of [berthd, berthdBefore, dockerd]) {
      if (!d) continue;
      const ids: string[] = [];
      try {
        for (let i = 0; i < 100; i++) {
          const r = await d.http.send('POST', '/v1.41/containers/create', { Image: busyboxRef, Cmd: ['true'], HostConfig: { NetworkMode: 'none' } });
          if (r.status !== 201) throw new Error(`create: ${r.status} ${r.body.slice(0, 200)}`);
          ids.push((JSON.parse(r.body) as { Id: string }).Id);
        }
        const lat: number[] = [];
        for (let i = 0; i < 35; i++) {
          let n = 0;
          const t = await timed(async () => {
            const r = await d.http.send('GET', '/v1.41/containers/json?all=1');
            n = (JSON.parse(r.body) as unknown[]).length;
          });
          if (i >= 5) lat.push(t);
          if (n < 100) throw new Error(`list returned ${n} containers`);
        }
        results[d.name] = median(lat);
        record(medianLine(`GET /containers/json?all=1 with 100 containers: ${d.name}`, lat));
        const ps: number[] = [];
        const psAll: number[] = [];
        const berthPs: number[] = [];
        for (let i = 0; i < 11; i++) {
          const a = await timed(() => docker(d, ['ps']));
          const b = await timed(() => docker(d, ['ps', '-a']));
          const c = d === berthd && existsSync(BERTH_CLI_DIST) ? await timed(() => berthCli(d, ['ps', '-a'])) : NaN;
          if (i === 0) continue;
          ps.push(a);
          psAll.push(b);
          if (Number.isFinite(c)) berthPs.push(c);
        }
        record(medianLine(`docker ps (0 running) -> ${d.name}`, ps));
        record(medianLine(`docker ps -a (100) -> ${d.name}`, psAll));
        if (berthPs.length) record(medianLine(`berth ps -a (100) -> ${d.name}`, berthPs));
        if (d === berthd && berthPs.length) {
          const bps: number[] = [];
          for (let i = 0; i < 11; i++) {
            const t = await timed(() => berthCli(d, ['ps']));
            if (i) bps.push(t);
          }
          record(medianLine(`berth ps (0 running) -> berthd`, bps));
          results['berth ps'] = median(bps);
          results['docker ps berthd'] = median(ps);
        }
        if (d === dockerd) results['docker ps dockerd'] = median(ps);
      } finally {
        for (const id of ids) await d.http.send('DELETE', `/v1.41/containers/${id}?force=1`).catch(() => undefined);
      }
    }
    record(`list ratio berthd/dockerd GET /containers/json (100): ${fmtRatio(results['berthd'] ?? NaN, results['dockerd'] ?? NaN)}`);
    record(`ps ratio berth ps/docker ps (dockerd): ${fmtRatio(results['berth ps'] ?? NaN, results['docker ps dockerd'] ?? NaN)} (target berth ps <= 60 ms)`);
  });

  // ---------------------------------------------------------------- berth start-up
  await section('version', async () => {
    if (!existsSync(BERTH_CLI_DIST)) throw new Error('apps/cli/dist/berth.js not built');
    if (!berthd || !busyboxRef) throw new Error('no berthd');
    const before = process.env['BENCH_CLI_BEFORE'];
    if (before && !existsSync(before)) throw new Error(`BENCH_CLI_BEFORE=${before}: no such file`);
    for (const line of await cliStartupLines(BERTH_CLI_DIST, berthd, busyboxRef, Math.max(N, 15), before)) record(line);
  });

  // ---------------------------------------------------------------- profile of run --rm
  await section('profile', async () => {
    if (!berthd || !busyboxRef) throw new Error('no berthd');
    if (!existsSync(BERTHD_DIST)) throw new Error('apps/daemon/dist/berthd.js not built (the profile maps the bundle)');
    await removeAllContainers(berthd);
    await berthd.stop();
    berthd = undefined;
    const modes: { label: string; net: string[] }[] = [{ label: 'network none', net: ['--network', 'none'] }];
    if (!berthNet.length) modes.unshift({ label: 'default bridge', net: [] });
    for (const mode of modes) {
      try {
        await profileRunRm(mode.label, mode.net);
      } catch (err) {
        record(`SKIPPED profile/${mode.label}: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    // back to a plain berthd for the next sections
    berthd = await startOurBerthd();
  });

  /**
   * berthd under strace (execve only, through seccomp-bpf: only forks and execs stop) with
   * a CPU profile and request logs, N runs of `docker run --rm`; prints where the time goes.
   */
  async function profileRunRm(label: string, net: string[]): Promise<void> {
    const tag = label.replace(/\W+/g, '-');
    const profDir = join(base, `prof-${tag}`);
    await mkdir(profDir, { recursive: true });
    const straceOut = join(base, `strace-${tag}.txt`);
    const socketDir = join(base, 'br');
    const socketPath = join(socketDir, 'berthd.sock');
    const home = join(base, 'bh');
    await writeFile(join(home, 'daemon.json'), JSON.stringify({ bridge: berthBridge, bip: berthSubnet }) + '\n');
    const log = join(home, `berthd-profile-${tag}.log`);
    const daemonArgs = ['--cpu-prof', '--cpu-prof-dir', profDir, BERTHD_DIST, '--root', join(storeDir, 'berthd'), '--run-root', socketDir, '--host', `unix://${socketPath}`, '--config', join(home, 'daemon.json'), '--log-level', 'info'];
    // child processes: perf's sched tracepoints (system-wide, no cost to berthd) when perf
    // works here, else strace on execve (ptrace slows every fork of berthd's)
    const perfData = join(base, `perf-${tag}.data`);
    let perf: ReturnType<typeof spawnLogged> | undefined = spawnLogged('perf', ['record', '-q', '-a', '-k', 'CLOCK_MONOTONIC', '-e', 'sched:sched_process_fork,sched:sched_process_exec,sched:sched_process_exit', '-o', perfData], join(base, `perf-${tag}.log`));
    await sleep(1_500);
    if (!perf.isAlive()) perf = undefined;
    const tracerName = perf ? 'perf sched tracepoints' : 'strace';
    const daemon = perf ? spawnLogged(process.execPath, daemonArgs, log) : spawnLogged('strace', ['-f', '-q', '-ttt', '--seccomp-bpf', '-e', 'trace=execve', '-o', straceOut, process.execPath, ...daemonArgs], log);
    const http = new UnixHttp(socketPath);
    const host = `unix://${socketPath}`;
    const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, DOCKER_HOST: host, DOCKER_CONFIG: join(home, 'docker-config'), DOCKER_CLI_HINTS: 'false' };
    const windows: { t0: number; t1: number }[] = [];
    const hrWindows: { fromUs: number; toUs: number }[] = [];
    const durations: number[] = [];
    let nodePid = -1;
    let cpuTicks = { self: NaN, children: NaN };
    try {
      await http.waitReady(30_000, daemon.isAlive);
      nodePid = perf ? daemon.pid : ((await processesMentioning(profDir)).find((p) => p.comm === 'node')?.pid ?? -1);
      await run('docker', ['run', '--rm', ...net, busyboxRef, 'true'], { env }); // warm-up
      const ticks0 = await cpuTicksOf(nodePid);
      for (let i = 0; i < N; i++) {
        const t0 = Date.now();
        const h0 = Number(process.hrtime.bigint() / 1000n);
        const p0 = performance.now();
        await run('docker', ['run', '--rm', ...net, busyboxRef, 'true'], { env });
        durations.push(performance.now() - p0);
        windows.push({ t0, t1: Date.now() });
        hrWindows.push({ fromUs: h0, toUs: Number(process.hrtime.bigint() / 1000n) });
      }
      const ticks1 = await cpuTicksOf(nodePid);
      cpuTicks = { self: ticks1.self - ticks0.self, children: ticks1.children - ticks0.children };
    } finally {
      http.close();
      if (perf) {
        perf.child.kill('SIGINT');
        await Promise.race([perf.exited, sleep(15_000)]);
        await stopProcess(perf, 2_000);
      }
      const ids = (await run('docker', ['ps', '-aq'], { env }).catch(() => ({ stdout: '' }))).stdout.split('\n').filter(Boolean);
      if (ids.length) await run('docker', ['rm', '-f', ...ids], { env }).catch(() => undefined);
      if (nodePid > 0) await killPid(nodePid, 15_000);
      await Promise.race([daemon.exited, sleep(10_000)]);
      await stopProcess(daemon, 2_000);
    }
    record(medianLine(`profile ${label}: run --rm true via berthd with --cpu-prof, info logs, ${tracerName}`, durations));
    for (const line of await reportRunRmProfile({ label, log, perfData: perf ? perfData : undefined, straceOut, nodePid, windows, hrWindows, durations, cpuTicks, profDir, runs: N })) record(line);
  }

  // ---------------------------------------------------------------- cold pull of the big image
  await section('pull', async () => {
    if (!registry) throw new Error('no registry');
    const t0 = performance.now();
    const big = await buildBigImageLayout();
    const bigRef = `${registry.host}/bench/big:latest`;
    await pushLayoutWithSkopeo(big.layoutDir, 'latest', bigRef);
    console.log(`big image: ${big.layers.length} layers, ${(big.totalSize / 1e6).toFixed(1)} MB compressed, ${(big.totalUncompressedSize / 1e6).toFixed(1)} MB unpacked (layout + push ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    const peers: { name: string; pull: () => Promise<string>; rm: () => Promise<unknown> }[] = [];
    if (berthd) {
      const b = berthd;
      peers.push({ name: 'berthd (docker pull)', pull: async () => (await docker(b, ['pull', bigRef], 300_000)).stdout, rm: async () => { await docker(b, ['rmi', '-f', bigRef]); await docker(b, ['image', 'prune', '-af']).catch(() => undefined); } });
    }
    if (dockerd) {
      const d = dockerd;
      peers.push({ name: 'dockerd (docker pull)', pull: async () => (await docker(d, ['pull', bigRef], 300_000)).stdout, rm: () => docker(d, ['rmi', '-f', bigRef]) });
    }
    if (podman) peers.push({ name: 'podman pull', pull: async () => (await pod(['pull', '--tls-verify=false', bigRef], 300_000)).stderr, rm: () => pod(['rmi', '-f', bigRef]) });
    peers.push({
      name: 'skopeo copy to dir: (download only)',
      pull: async () => {
        await rm(join(storeDir, 'skopeo-dir'), { recursive: true, force: true });
        await run('skopeo', ['--insecure-policy', 'copy', '-q', '--src-tls-verify=false', `docker://${bigRef}`, `dir:${join(storeDir, 'skopeo-dir')}`], { timeoutMs: 300_000 });
        return '';
      },
      rm: () => rm(join(storeDir, 'skopeo-dir'), { recursive: true, force: true }),
    });
    const samples = new Map<string, number[]>();
    for (let r = 0; r < PULL_ROUNDS; r++) {
      for (const p of peers) {
        try {
          let out = '';
          await run('sync', []);
          const t = await timed(async () => (out = await p.pull()));
          if (/Already exists/i.test(out)) console.log(`  note: ${p.name} round ${r + 1} found layers already present`);
          samples.set(p.name, [...(samples.get(p.name) ?? []), t]);
          await p.rm();
          await run('sync', []);
        } catch (err) {
          record(`SKIPPED pull/${p.name} round ${r + 1}: ${(err as Error).message.split('\n')[0]}`);
        }
      }
    }
    for (const [k, v] of samples) record(medianLine(`cold pull big: ${k}`, v));
    const m = (prefix: string) => median(samples.get([...samples.keys()].find((k) => k.startsWith(prefix)) ?? '') ?? []);
    record(`pull ratio berthd/dockerd: ${fmtRatio(m('berthd'), m('dockerd'))}, berthd/podman: ${fmtRatio(m('berthd'), m('podman'))}, berthd/skopeo download: ${fmtRatio(m('berthd'), m('skopeo'))} (target berthd <= 1500 ms; stores on ${fsNote})`);
  });
} finally {
  console.log('\n--- cleanup');
  for (const d of [berthd, berthdBefore, dockerd]) {
    if (!d) continue;
    await removeAllContainers(d).catch(() => undefined);
    await d.stop().catch(() => undefined);
  }
  if (podman) {
    await tryRun('podman', [...podman, 'rm', '-af', '-t', '0'], { timeoutMs: 120_000 });
    await tryRun('podman', [...podman, 'rmi', '-af'], { timeoutMs: 120_000 });
  }
  await registry?.stop().catch(() => undefined);
  // monitors and shims left behind name our temp dir on their command line
  for (const p of await processesMentioning(base).catch(() => [])) await killPid(p.pid);
  await unmountTree(base).catch(() => undefined);
  if (fs) await fs.cleanup().catch(() => undefined);
  await deleteLink(berthBridge);
  if (berthdBeforeDist) await deleteLink(beforeBridge);
  if (beforeSubnet) await deleteRulesMentioning(beforeSubnet).catch(() => 0);
  if (berthdBeforeDist) await deleteRulesMentioning(beforeBridge).catch(() => 0);
  if (dockerBridgeMade) await deleteLink(dockerBridge);
  if (berthSubnet) await deleteRulesMentioning(berthSubnet).catch(() => 0);
  await deleteRulesMentioning(berthBridge).catch(() => 0);
  await rm(base, { recursive: true, force: true, maxRetries: 3 }).catch((err: Error) => console.log(`cleanup: ${err.message}`));
  console.log('\n=== berthd end-to-end figures');
  console.log(`stores on: ${fsNote}; load average at the end: ${(await readFile('/proc/loadavg', 'utf8').catch(() => '?')).trim()} (2 cores shared with other work: wall times are noisy, compare within a run)`);
  for (const n of notes) console.log(`note: ${n}`);
  for (const line of table) console.log(line);
}
