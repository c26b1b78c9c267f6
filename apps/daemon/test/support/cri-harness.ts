import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeDaemonNetwork, seededRegistry, type SeededRegistry } from '@berth/fixtures';
import { startDaemon, type Daemon } from '../../src/index.js';
import { isolatedNetworkConfig } from './daemon.js';
import { criClient, type CriClient } from './cri-client.js';

export interface Pod {
  id: string;
  config: any;
}

/**
 * A real berthd (in this process) with the CRI on its own temp root, bridge and subnet, a
 * registry on 127.0.0.1 seeded with busybox (pulled through the CRI), and the calls kubelet
 * makes most, for test files about pods.
 */
export interface CriHarness {
  cri: CriClient;
  daemon: Daemon;
  reg: SeededRegistry;
  dir: string;
  network: ReturnType<typeof isolatedNetworkConfig>;
  criSocket: string;
  podConfig(overrides?: Record<string, unknown>): any;
  containerConfig(name: string, script: string, linux?: object): any;
  runPod(config?: any): Promise<Pod>;
  runContainer(pod: Pod, name: string, script: string, linux?: object): Promise<string>;
  exec(id: string, cmd: string[]): Promise<{ out: string; err: string; code: number }>;
  stop(): Promise<void>;
}

/** `daemonConfig`: more daemon.json keys for this berthd. */
export async function startCriHarness(daemonConfig: Record<string, unknown> = {}): Promise<CriHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'berthd-cri-'));
  const network = isolatedNetworkConfig();
  const criSocket = join(dir, 'run', 'cri.sock');
  await writeFile(join(dir, 'daemon.json'), JSON.stringify({ ...network, ...daemonConfig }));
  const reg = await seededRegistry();
  let daemon: Daemon;
  try {
    daemon = await startDaemon({ root: join(dir, 'root'), runRoot: join(dir, 'run'), configFile: join(dir, 'daemon.json'), hosts: [`unix://${join(dir, 'run', 'berthd.sock')}`], cri: `unix://${criSocket}` });
  } catch (err) {
    await reg.stop();
    await removeDaemonNetwork(network.bridge, network.bip);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const cri = criClient(criSocket);
  let seq = 0;
  const h: CriHarness = {
    cri,
    daemon,
    reg,
    dir,
    network,
    criSocket,
    podConfig(overrides = {}) {
      const name = `pod${++seq}-${process.pid}`;
      return { metadata: { name, uid: `uid-${name}`, namespace: 'crit', attempt: 0 }, hostname: `host-${seq}`, log_directory: join(dir, 'pods', name), labels: { app: name }, annotations: {}, linux: {}, ...overrides };
    },
    containerConfig(name, script, linux) {
      return { metadata: { name }, image: { image: reg.busybox }, command: ['sh', '-c'], args: [script], log_path: `${name}/0.log`, labels: { c: name }, ...(linux ? { linux } : {}) };
    },
    async runPod(config = h.podConfig()) {
      const { pod_sandbox_id } = await cri.rt('RunPodSandbox', { config });
      return { id: pod_sandbox_id, config };
    },
    async runContainer(pod, name, script, linux) {
      const { container_id } = await cri.rt('CreateContainer', { pod_sandbox_id: pod.id, config: h.containerConfig(name, script, linux), sandbox_config: pod.config });
      await cri.rt('StartContainer', { container_id });
      return container_id;
    },
    async exec(id, cmd) {
      const r = await cri.rt('ExecSync', { container_id: id, cmd, timeout: 20 });
      return { out: Buffer.from(r.stdout).toString(), err: Buffer.from(r.stderr).toString(), code: r.exit_code };
    },
    async stop() {
      const pods = (await cri.rt('ListPodSandbox', {}).catch(() => ({ items: [] }))).items as { id: string }[];
      for (const p of pods) await cri.rt('RemovePodSandbox', { pod_sandbox_id: p.id }).catch(() => undefined);
      cri.close();
      await daemon.close();
      await reg.stop();
      await removeDaemonNetwork(network.bridge, network.bip);
      await rm(dir, { recursive: true, force: true });
    },
  };
  await cri.img('PullImage', { image: { image: reg.busybox } });
  return h;
}

export async function until<T>(what: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await what();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}
