// The CRI's pod cycle as kubelet drives it, berthd against containerd in the same run:
// RunPodSandbox + CreateContainer + StartContainer of a busybox pod (`up`), then
// StopPodSandbox + RemovePodSandbox (`down`), with each call's median. Rounds alternate
// between the two runtimes so load from elsewhere hits both alike.
//
// Self-contained: a registry on 127.0.0.1 with the fixtures' busybox and a pause image made
// from it (entrypoint `sleep infinity`, committed and pushed by the berthd under test), a
// berthd with the CRI on a temp root, and, when `containerd` and runc are installed, a
// containerd 1.6+ on a temp root with a CNI bridge of its own, the registry as a plain-http
// mirror and that pause as its sandbox image. Needs root. Everything is stopped by PID and
// removed at the end (its bridges and their iptables rules too).
// Run: node --conditions=source --import tsx bench/cri-pods.ts   (BENCH_RUNS=N, default 10)
// BENCH_BERTHD_BEFORE=<another build's apps/daemon/dist/berthd.js>: that berthd too (own root,
// bridge and subnet), in the same alternating rounds: a change's before/after under one load.
// BENCH_BERTHD_AFTER=<this build's dist/berthd.js> runs the build under test as its own process
// too (the in-process one shares the bench client's event loop), so both sides are alike.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeDaemonNetwork, seededRegistry } from '@berth/fixtures';
import { startDaemon } from '../src/index.js';
import { criClient, type CriClient } from '../test/support/cri-client.js';

const N = Number(process.env['BENCH_RUNS'] ?? 10);
const dir = await mkdtemp(join(tmpdir(), 'berth-cri-bench-'));
const n = Math.floor(Math.random() * 0xfff);
const berthNet = { bridge: `bcb${n.toString(16)}`, bip: `10.${200 + (n % 50)}.${(n >> 4) % 256}.1/24` };
const ctdNet = { bridge: `bcc${n.toString(16)}`, subnet: `10.${200 + ((n + 25) % 50)}.${(n >> 4) % 256}.0/24` };
const beforeDist = process.env['BENCH_BERTHD_BEFORE'];
const afterDist = process.env['BENCH_BERTHD_AFTER'];
const cleanups: (() => Promise<unknown>)[] = [];

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

try {
  const reg = await seededRegistry();
  cleanups.push(() => reg.stop());
  await writeFile(join(dir, 'daemon.json'), JSON.stringify(berthNet));
  const daemon = await startDaemon({ root: join(dir, 'berth', 'root'), runRoot: join(dir, 'berth', 'run'), configFile: join(dir, 'daemon.json'), hosts: [`unix://${join(dir, 'berth', 'berthd.sock')}`], cri: `unix://${join(dir, 'berth', 'cri.sock')}` });
  cleanups.push(async () => {
    await daemon.close();
    await removeDaemonNetwork(berthNet.bridge, berthNet.bip);
  });
  // the pause image containerd needs (offline): busybox with `sleep infinity` as its process
  const pause = `${reg.registry.host}/pause:bench`;
  await daemon.engine.images.pull(reg.busybox);
  const { Id: seed } = await daemon.engine.containers.create({ Image: reg.busybox, Cmd: ['true'], HostConfig: { NetworkMode: 'none' } });
  await daemon.engine.images.commit(seed, { repo: `${reg.registry.host}/pause`, tag: 'bench', changes: ['ENTRYPOINT ["sleep"]', 'CMD ["infinity"]'], pause: false });
  await daemon.engine.containers.remove(seed, { force: true });
  await daemon.engine.images.push(pause);

  const runtimes: { name: string; cri: CriClient }[] = [{ name: 'berthd', cri: criClient(join(dir, 'berth', 'cri.sock')) }];
  if (afterDist) runtimes.push({ name: 'berthd-after', cri: criClient(await startBerthdProcess('after', afterDist, 37)) });
  if (beforeDist) runtimes.push({ name: 'berthd-before', cri: criClient(await startBerthdProcess('before', beforeDist, 12)) });
  const ctd = await startContainerd(reg.registry.host, pause).catch((err: unknown) => {
    console.log(`SKIPPED containerd: ${(err as Error).message}`);
    return undefined;
  });
  if (ctd) runtimes.push({ name: 'containerd', cri: criClient(ctd.socket) });
  for (const r of runtimes) cleanups.push(async () => r.cri.close());

  console.log(`load average at the start: ${(await readFile('/proc/loadavg', 'utf8')).trim()}`);
  const times = new Map<string, Map<string, number[]>>();
  for (const r of runtimes) {
    await r.cri.img('PullImage', { image: { image: reg.busybox } });
    times.set(r.name, new Map());
  }
  const once = async (r: (typeof runtimes)[number], i: number): Promise<void> => {
    const t = times.get(r.name)!;
    const mark = async <T>(k: string, f: () => Promise<T>): Promise<T> => {
      const t0 = performance.now();
      const v = await f();
      const list = t.get(k) ?? [];
      list.push(performance.now() - t0);
      t.set(k, list);
      return v;
    };
    const name = `bench-${r.name}-${i}`;
    const config = { metadata: { name, uid: `${name}-${process.pid}`, namespace: 'bench', attempt: 0 }, log_directory: join(dir, 'logs', name), linux: {} };
    const t0 = performance.now();
    const { pod_sandbox_id } = await mark('RunPodSandbox', () => r.cri.rt('RunPodSandbox', { config }));
    const container = { metadata: { name: 'c' }, image: { image: reg.busybox }, command: ['sleep', '3600'], log_path: 'c.log', linux: {} };
    const { container_id } = await mark('CreateContainer', () => r.cri.rt('CreateContainer', { pod_sandbox_id, config: container, sandbox_config: config }));
    await mark('StartContainer', () => r.cri.rt('StartContainer', { container_id }));
    const t1 = performance.now();
    await mark('StopPodSandbox', () => r.cri.rt('StopPodSandbox', { pod_sandbox_id }));
    await mark('RemovePodSandbox', () => r.cri.rt('RemovePodSandbox', { pod_sandbox_id }));
    const t2 = performance.now();
    for (const [k, v] of [['up', t1 - t0], ['down', t2 - t1]] as const) t.set(k, [...(t.get(k) ?? []), v]);
  };
  // a warm-up round each, not counted
  for (const r of runtimes) await once(r, -1);
  for (const r of runtimes) times.set(r.name, new Map());
  for (let i = 0; i < N; i++) for (const r of runtimes) await once(r, i);

  console.log(`CRI pod cycle, ${N} rounds (median ms)`);
  const keys = ['RunPodSandbox', 'CreateContainer', 'StartContainer', 'StopPodSandbox', 'RemovePodSandbox', 'up', 'down'];
  console.log(['call', ...runtimes.map((r) => r.name)].map((s) => s.padEnd(18)).join(''));
  for (const k of keys) console.log([k, ...runtimes.map((r) => median(times.get(r.name)!.get(k) ?? []).toFixed(0))].map((s) => s.padEnd(18)).join(''));
  if (ctd) {
    const b = times.get('berthd')!;
    const c = times.get('containerd')!;
    for (const k of ['up', 'down']) console.log(`${k} ratio berthd/containerd: ${(median(b.get(k)!) / median(c.get(k)!)).toFixed(2)}x (target 0.5x)`);
    for (const other of ['berthd-after', 'berthd-before']) {
      const o = times.get(other);
      if (o) for (const k of ['up', 'down']) console.log(`${k} ratio ${other}/containerd: ${(median(o.get(k)!) / median(c.get(k)!)).toFixed(2)}x`);
    }
  }
  console.log(`load average at the end: ${(await readFile('/proc/loadavg', 'utf8')).trim()}`);
} catch (err) {
  // said before the cleanups run: a failing cleanup must not hide why the bench stopped
  console.error(`bench failed: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
} finally {
  for (const c of cleanups.reverse()) await c().catch((err: unknown) => console.error(`cleanup: ${(err as Error).message}`));
  await rm(dir, { recursive: true, force: true });
}

/** A build's berthd as its own process (own root, run root, bridge, subnet); its CRI socket once it answers. */
async function startBerthdProcess(name: string, dist: string, netOffset: number): Promise<string> {
  const base = join(dir, name);
  const net = { bridge: `bc${name === 'before' ? 'p' : 'a'}${n.toString(16)}`, bip: `10.${200 + ((n + netOffset) % 50)}.${(n >> 4) % 256}.1/24` };
  await mkdir(base, { recursive: true });
  await writeFile(join(base, 'daemon.json'), JSON.stringify(net));
  const socket = join(base, 'cri.sock');
  const args = [dist, '--root', join(base, 'root'), '--run-root', join(base, 'run'), '--config', join(base, 'daemon.json'), '-H', `unix://${join(base, 'berthd.sock')}`, '--cri', `unix://${socket}`];
  const proc: ChildProcess = spawn(process.execPath, args, { stdio: 'ignore' });
  cleanups.push(async () => {
    if (proc.exitCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
    await removeDaemonNetwork(net.bridge, net.bip);
  });
  const probe = criClient(socket);
  try {
    for (let i = 0; ; i++) {
      try {
        await probe.rt('Version', {});
        return socket;
      } catch (err) {
        if (i > 300 || proc.exitCode !== null) throw new Error(`berthd ${dist} did not answer: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    probe.close();
  }
}

/** containerd on a temp root: own sockets, CNI bridge, the registry as a plain-http mirror. */
async function startContainerd(registryHost: string, pause: string): Promise<{ socket: string }> {
  if (!existsSync('/usr/bin/containerd') && !existsSync('/usr/local/bin/containerd')) throw new Error('containerd is not installed');
  const base = join(dir, 'ctd');
  await mkdir(join(base, 'net.d'), { recursive: true });
  await mkdir(join(base, 'certs.d', registryHost), { recursive: true });
  await writeFile(join(base, 'certs.d', registryHost, 'hosts.toml'), `server = "http://${registryHost}"\n\n[host."http://${registryHost}"]\n  capabilities = ["pull", "resolve"]\n`);
  await writeFile(
    join(base, 'net.d', '10-bench.conflist'),
    JSON.stringify({
      cniVersion: '0.4.0',
      name: 'ctdbench',
      plugins: [
        { type: 'bridge', bridge: ctdNet.bridge, isGateway: true, ipMasq: true, ipam: { type: 'host-local', ranges: [[{ subnet: ctdNet.subnet }]], routes: [{ dst: '0.0.0.0/0' }] } },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    }),
  );
  const socket = join(base, 'containerd.sock');
  await writeFile(
    join(base, 'config.toml'),
    [
      'version = 2',
      `root = "${join(base, 'root')}"`,
      `state = "${join(base, 'state')}"`,
      `[grpc]\n  address = "${socket}"`,
      `[ttrpc]\n  address = "${socket}.ttrpc"`,
      '[debug]\n  address = ""',
      '[metrics]\n  address = ""',
      '[plugins."io.containerd.grpc.v1.cri"]',
      `  sandbox_image = "${pause}"`,
      '  restrict_oom_score_adj = true',
      '  disable_apparmor = true',
      '  stream_server_port = "0"',
      '  [plugins."io.containerd.grpc.v1.cri".cni]',
      '    bin_dir = "/usr/lib/cni"',
      `    conf_dir = "${join(base, 'net.d')}"`,
      '  [plugins."io.containerd.grpc.v1.cri".containerd]',
      '    default_runtime_name = "runc"',
      '    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
      '      runtime_type = "io.containerd.runc.v2"',
      '  [plugins."io.containerd.grpc.v1.cri".registry]',
      `    config_path = "${join(base, 'certs.d')}"`,
      '',
    ].join('\n'),
  );
  const proc: ChildProcess = spawn('containerd', ['--config', join(base, 'config.toml')], { stdio: 'ignore' });
  cleanups.push(async () => {
    // the pods are gone; its shims went with them. Stop it by PID, then its network
    if (proc.exitCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
    await removeDaemonNetwork(ctdNet.bridge, ctdNet.subnet.replace(/\.0\/24$/, '.1/24'));
    // containerd's root holds overlay mounts only while containers exist
    await rm(base, { recursive: true, force: true }).catch(() => undefined);
  });
  const probe = criClient(socket);
  try {
    for (let i = 0; ; i++) {
      try {
        await probe.rt('Version', {});
        break;
      } catch (err) {
        if (i > 100 || proc.exitCode !== null) throw new Error(`containerd did not answer: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    probe.close();
  }
  return { socket };
}
