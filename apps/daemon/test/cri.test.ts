import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDaemonNetwork, seededRegistry, type SeededRegistry } from '@berth/fixtures';
import { startDaemon, type Daemon } from '../src/index.js';
import { isolatedNetworkConfig } from './support/daemon.js';
import { criClient, type CriClient } from './support/cri-client.js';

// The CRI as kubelet and crictl drive it, against a real berthd (in this process) on a temp
// root, with a registry on 127.0.0.1 for the pulls.
let dir: string;
let reg: SeededRegistry;
let daemon: Daemon | undefined;
let cri: CriClient | undefined;
const network = isolatedNetworkConfig();
let paths: { root: string; runRoot: string; configFile: string; socket: string; criSocket: string; logs: string };

async function start(): Promise<CriClient> {
  daemon = await startDaemon({ root: paths.root, runRoot: paths.runRoot, configFile: paths.configFile, hosts: [`unix://${paths.socket}`], cri: `unix://${paths.criSocket}` });
  cri = criClient(paths.criSocket);
  return cri;
}

async function stop(): Promise<void> {
  cri?.close();
  cri = undefined;
  await daemon?.close();
  daemon = undefined;
}

let podSeq = 0;
function podConfig(name = `pod${++podSeq}`): object {
  return {
    metadata: { name, uid: `uid-${name}-${process.pid}`, namespace: 'crit', attempt: 0 },
    hostname: `host-${name}`,
    log_directory: join(paths.logs, name),
    labels: { app: name },
    annotations: { note: 'x' },
    linux: {},
  };
}

// kubelet's default: a PID namespace of the container's own (without namespace_options it is the pod's)
const OWN_PID = { security_context: { namespace_options: { pid: 1 } } };

function containerConfig(name: string, args: string[]): object {
  return { metadata: { name }, image: { image: reg.busybox }, command: ['sh', '-c'], args, log_path: `${name}/0.log`, labels: { c: name }, linux: OWN_PID };
}

async function runPod(config = podConfig()): Promise<{ id: string; config: any }> {
  const { pod_sandbox_id } = await cri!.rt('RunPodSandbox', { config });
  return { id: pod_sandbox_id, config };
}

async function runContainer(pod: { id: string; config: any }, name: string, script: string): Promise<string> {
  const { container_id } = await cri!.rt('CreateContainer', { pod_sandbox_id: pod.id, config: containerConfig(name, [script]), sandbox_config: pod.config });
  await cri!.rt('StartContainer', { container_id });
  return container_id;
}

async function exec(id: string, cmd: string[]): Promise<{ out: string; err: string; code: number }> {
  const r = await cri!.rt('ExecSync', { container_id: id, cmd, timeout: 20 });
  return { out: Buffer.from(r.stdout).toString(), err: Buffer.from(r.stderr).toString(), code: r.exit_code };
}

async function until<T>(what: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await what();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berthd-cri-'));
  paths = { root: join(dir, 'root'), runRoot: join(dir, 'run'), configFile: join(dir, 'daemon.json'), socket: join(dir, 'run', 'berthd.sock'), criSocket: join(dir, 'run', 'cri.sock'), logs: join(dir, 'pods') };
  await writeFile(paths.configFile, JSON.stringify(network));
  reg = await seededRegistry();
  await start();
  await cri!.img('PullImage', { image: { image: reg.busybox } });
});

afterAll(async () => {
  if (daemon) {
    const pods = (await cri!.rt('ListPodSandbox', {}).catch(() => ({ items: [] }))).items as { id: string }[];
    for (const p of pods) await cri!.rt('RemovePodSandbox', { pod_sandbox_id: p.id }).catch(() => undefined);
    await stop();
  }
  await reg?.stop();
  await removeDaemonNetwork(network.bridge, network.bip);
  await rm(dir, { recursive: true, force: true });
});

describe('CRI', () => {
  it('answers Version, Status and RuntimeConfig', async () => {
    const v = await cri!.rt('Version', { version: 'v1' });
    expect(v).toMatchObject({ runtime_name: 'berth', runtime_api_version: 'v1' });
    expect(v.runtime_version).toMatch(/^\d+\.\d+/);
    const s = await cri!.rt('Status', {});
    expect(s.status.conditions.map((c: any) => [c.type, c.status])).toEqual([
      ['RuntimeReady', true],
      ['NetworkReady', true],
    ]);
  });

  it('answers clients that send the socket path as :authority (Go gRPC as kubelet and crictl 1.26 use it)', async () => {
    // Node's HTTP/2 alone resets such a stream (PROTOCOL_ERROR) before gRPC sees it
    const goLike = criClient(paths.criSocket, paths.criSocket);
    try {
      expect(await goLike.rt('Version', {})).toMatchObject({ runtime_name: 'berth' });
      // the client's HPACK table carries the authority into later calls: those must work too
      for (let i = 0; i < 3; i++) expect((await goLike.img('ListImages', {})).images.length).toBeGreaterThan(0);
    } finally {
      goLike.close();
    }
  });

  it('runs a pod: create, start, exec, logs in the CRI format, stop, remove', async () => {
    const pod = await runPod();
    const st = await cri!.rt('PodSandboxStatus', { pod_sandbox_id: pod.id });
    expect(st.status).toMatchObject({ id: pod.id, state: 0, metadata: { name: pod.config.metadata.name, namespace: 'crit' }, labels: { app: pod.config.metadata.name } });
    expect(st.status.network.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);

    const id = await runContainer(pod, 'main', 'echo hello; echo oops >&2; printf partial; sleep 1000');
    const cs = await cri!.rt('ContainerStatus', { container_id: id });
    expect(cs.status).toMatchObject({ id, state: 1, metadata: { name: 'main' }, log_path: join(pod.config.log_directory, 'main/0.log') });

    const r = await exec(id, ['sh', '-c', 'hostname; echo to-err >&2; exit 3']);
    expect(r).toEqual({ out: `host-${pod.config.metadata.name}\n`, err: 'to-err\n', code: 3 });

    // kubelet's log format: `<RFC3339Nano> <stream> <F|P> <line>`; a line without its newline is partial
    const log = await until(() => readFile(cs.status.log_path, 'utf8').catch(() => ''), (t) => t.includes('partial'));
    const lines = log.split('\n').filter(Boolean);
    for (const l of lines) expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(Z|[+-]\d\d:\d\d) (stdout|stderr) [FP] /);
    expect(lines.map((l) => l.split(' ').slice(1).join(' ')).sort()).toEqual(['stderr F oops', 'stdout F hello', 'stdout P partial']);

    const listed = await cri!.rt('ListContainers', { filter: { pod_sandbox_id: pod.id } });
    expect(listed.containers.map((c: any) => c.id)).toEqual([id]);

    await cri!.rt('StopContainer', { container_id: id, timeout: 2 });
    const after = await cri!.rt('ContainerStatus', { container_id: id });
    expect(after.status.state).toBe(2);
    expect(after.status.finished_at).not.toBe('0');
    await cri!.rt('RemoveContainer', { container_id: id });
    await expect(cri!.rt('ContainerStatus', { container_id: id })).rejects.toMatchObject({ code: 5 });

    await cri!.rt('StopPodSandbox', { pod_sandbox_id: pod.id });
    expect((await cri!.rt('PodSandboxStatus', { pod_sandbox_id: pod.id })).status.state).toBe(1);
    await cri!.rt('RemovePodSandbox', { pod_sandbox_id: pod.id });
    expect((await cri!.rt('ListPodSandbox', { filter: { id: pod.id } })).items).toEqual([]);
    // kubelet retries: removing again is fine
    await cri!.rt('RemovePodSandbox', { pod_sandbox_id: pod.id });
  });

  it('reopens a container log kubelet has renamed (ReopenContainerLog)', async () => {
    const pod = await runPod();
    const id = await runContainer(pod, 'ticker', 'i=0; while :; do i=$((i+1)); echo tick$i; sleep 0.1; done');
    const path = (await cri!.rt('ContainerStatus', { container_id: id })).status.log_path as string;
    await until(() => readFile(path, 'utf8').catch(() => ''), (t) => t.includes('tick2'));
    await rename(path, `${path}.1`);
    await cri!.rt('ReopenContainerLog', { container_id: id });
    const fresh = await until(() => readFile(path, 'utf8').catch(() => ''), (t) => / stdout F tick\d+\n/.test(t));
    expect(fresh).toMatch(/^\S+ stdout F tick\d+\n/);
    await cri!.rt('StopContainer', { container_id: id, timeout: 0 });
    await expect(cri!.rt('ReopenContainerLog', { container_id: id })).rejects.toMatchObject({ code: 9 });
    await cri!.rt('RemovePodSandbox', { pod_sandbox_id: pod.id });
  });

  it('kills the command of an ExecSync that times out', async () => {
    const pod = await runPod();
    const id = await runContainer(pod, 'waiter', 'exec sleep 1000');
    const sleeps = async (): Promise<string> => (await exec(id, ['sh', '-c', "cat /proc/[0-9]*/comm | grep -c '^sleep$'"])).out.trim();
    expect(await sleeps()).toBe('1');
    await expect(cri!.rt('ExecSync', { container_id: id, cmd: ['sleep', '60'], timeout: 1 })).rejects.toMatchObject({ code: 4 });
    // the exec'd sleep is gone at once (not left a zombie), not only the runtime's exec that waited for it
    expect(await sleeps()).toBe('1');
    await cri!.rt('RemovePodSandbox', { pod_sandbox_id: pod.id });
  });

  it('applies a Localhost seccomp profile', async () => {
    const profile = join(dir, 'block-chmod.json');
    await writeFile(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['chmod', 'fchmod', 'fchmodat'], action: 'SCMP_ACT_ERRNO' }] }));
    const pod = await runPod();
    const config = { ...(containerConfig('confined', ['sleep 1000']) as object), linux: { security_context: { seccomp: { profile_type: 2, localhost_ref: profile } } } };
    const { container_id } = await cri!.rt('CreateContainer', { pod_sandbox_id: pod.id, config, sandbox_config: pod.config });
    await cri!.rt('StartContainer', { container_id });
    const r = await exec(container_id, ['chmod', '400', '/tmp']);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/Operation not permitted/);
    expect((await exec(container_id, ['touch', '/tmp/x'])).code).toBe(0);
    await cri!.rt('RemovePodSandbox', { pod_sandbox_id: pod.id });
  });

  it('applies masked and read-only paths from the security context', async () => {
    const pod = await runPod();
    const sc = { masked_paths: ['/proc/cpuinfo'], readonly_paths: ['/tmp'] };
    const config = { ...(containerConfig('masked', ['sleep 1000']) as object), linux: { security_context: sc } };
    const { container_id } = await cri!.rt('CreateContainer', { pod_sandbox_id: pod.id, config, sandbox_config: pod.config });
    await cri!.rt('StartContainer', { container_id });
    expect(await exec(container_id, ['cat', '/proc/cpuinfo'])).toEqual({ out: '', err: '', code: 0 });
    const ro = await exec(container_id, ['touch', '/tmp/x']);
    expect(ro.code).not.toBe(0);
    expect(ro.err).toMatch(/Read-only file system/);
    await cri!.rt('RemovePodSandbox', { pod_sandbox_id: pod.id });
  });

  it('clamps a negative oom_score_adj to the daemon\'s own (restrict_oom_score_adj: root lacks CAP_SYS_RESOURCE here)', async () => {
    // berthd runs in this process: its own value is the floor
    const own = Number((await readFile('/proc/self/oom_score_adj', 'utf8')).trim());
    const pod = await runPod();
    const config = { ...(containerConfig('guarded', ['sleep 1000']) as object), linux: { ...OWN_PID, resources: { oom_score_adj: -998 } } };
    const { container_id } = await cri!.rt('CreateContainer', { pod_sandbox_id: pod.id, config, sandbox_config: pod.config });
    await cri!.rt('StartContainer', { container_id });
    expect((await exec(container_id, ['cat', '/proc/1/oom_score_adj'])).out.trim()).toBe(String(Math.max(own, -998)));
    // a value above the floor is kept as asked
    const kept = { ...(containerConfig('kept', ['sleep 1000']) as object), linux: { ...OWN_PID, resources: { oom_score_adj: 500 } } };
    const second = await cri!.rt('CreateContainer', { pod_sandbox_id: pod.id, config: kept, sandbox_config: pod.config });
    await cri!.rt('StartContainer', { container_id: second.container_id });
    expect((await exec(second.container_id, ['cat', '/proc/1/oom_score_adj'])).out.trim()).toBe('500');
    await cri!.rt('RemovePodSandbox', { pod_sandbox_id: pod.id });
  });

  it('gives two containers of a pod one network namespace (and the pod its IP)', async () => {
    const pod = await runPod();
    const ip = (await cri!.rt('PodSandboxStatus', { pod_sandbox_id: pod.id })).status.network.ip;
    const server = await runContainer(pod, 'server', 'echo served > /tmp/index.html; exec httpd -f -p 8080 -h /tmp');
    const client = await runContainer(pod, 'client', 'sleep 1000');
    const netns = async (id: string): Promise<string> => (await exec(id, ['readlink', '/proc/self/ns/net'])).out;
    expect(await netns(client)).toBe(await netns(server));
    expect((await exec(client, ['ip', '-4', '-o', 'addr', 'show', 'eth0'])).out).toContain(`inet ${ip}/`);
    // the server listens on the pod's localhost, which the client shares
    const got = await until(() => exec(client, ['wget', '-q', '-O', '-', 'http://127.0.0.1:8080/index.html']), (r) => r.code === 0);
    expect(got.out).toBe('served\n');
    await cri!.rt('StopPodSandbox', { pod_sandbox_id: pod.id });
    await cri!.rt('RemovePodSandbox', { pod_sandbox_id: pod.id });
    expect((await cri!.rt('ListContainers', { filter: { pod_sandbox_id: pod.id } })).containers).toEqual([]);
  });

  it('pulls, lists, shows and removes images', async () => {
    const full = reg.busybox;
    const list = await cri!.img('ListImages', {});
    const img = list.images.find((i: any) => i.repo_tags.includes(full));
    expect(img).toBeDefined();
    expect(img.id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(img.repo_digests[0]).toMatch(/@sha256:[0-9a-f]{64}$/);
    expect(Number(img.size)).toBeGreaterThan(0);

    const st = await cri!.img('ImageStatus', { image: { image: full }, verbose: true });
    expect(st.image.id).toBe(img.id);
    expect(Object.keys(st.info)).toContain('info');
    expect((await cri!.img('ImageStatus', { image: { image: `${reg.registry.host}/nothing:1` } })).image).toBeNull();
    const fs = await cri!.img('ImageFsInfo', {});
    expect(Number(fs.image_filesystems[0].used_bytes.value)).toBeGreaterThan(0);

    const pulled = await cri!.img('PullImage', { image: { image: full } });
    expect(pulled.image_ref).toBe(img.id);
    await expect(cri!.img('PullImage', { image: { image: `${reg.registry.host}/nothing:1` } })).rejects.toThrow(/not found|manifest unknown/i);

    await cri!.img('RemoveImage', { image: { image: img.id } });
    expect((await cri!.img('ImageStatus', { image: { image: full } })).image).toBeNull();
    // removing what is gone is fine, as containerd
    await cri!.img('RemoveImage', { image: { image: img.id } });
    await cri!.img('PullImage', { image: { image: full } });
  });

  it('keeps pods and containers running across a berthd restart', async () => {
    const pod = await runPod();
    const id = await runContainer(pod, 'stay', 'echo before; sleep 1000');
    const before = await exec(id, ['cat', '/proc/1/stat']);
    await stop();
    await start();
    expect((await cri!.rt('PodSandboxStatus', { pod_sandbox_id: pod.id })).status.state).toBe(0);
    const cs = await cri!.rt('ContainerStatus', { container_id: id });
    expect(cs.status).toMatchObject({ state: 1, metadata: { name: 'stay' }, labels: { c: 'stay' } });
    // the same process, still answering
    expect(await exec(id, ['cat', '/proc/1/stat'])).toEqual(before);
    expect((await cri!.rt('ListContainers', { filter: { pod_sandbox_id: pod.id } })).containers).toHaveLength(1);
    await cri!.rt('StopPodSandbox', { pod_sandbox_id: pod.id });
    await cri!.rt('RemovePodSandbox', { pod_sandbox_id: pod.id });
  });
});
