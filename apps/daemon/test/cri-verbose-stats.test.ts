import { createHash } from 'node:crypto';
import { readFile, readlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCriHarness, type CriHarness } from './support/cri-harness.js';
import { request } from './support/http.js';

// What `crictl inspect[p|i]`, `crictl stats` and `crictl images` show, as containerd 1.6
// shows it (compared with crictl against both on one machine): the OCI spec the runtime got,
// the pod's CNI result, kubelet's memory figures from the cgroup, the writable layer's
// usage, and the image's packed size.
const info = (r: any): any => JSON.parse(r.info.info);
const MiB = 1024 * 1024;

/** The memory.stat counters of the cgroup a process is in, by kubelet's names (v1 totals or v2). */
async function cgroupMemory(pid: number): Promise<{ pageFaults: number; majorPageFaults: number }> {
  const lines = (await readFile(`/proc/${pid}/cgroup`, 'utf8')).trim().split('\n');
  const v1 = lines.find((l) => l.split(':')[1]?.split(',').includes('memory'));
  const file = v1 ? join('/sys/fs/cgroup/memory', v1.split(':')[2]!, 'memory.stat') : join('/sys/fs/cgroup', lines.find((l) => l.startsWith('0::'))!.slice(3), 'memory.stat');
  const stat = new Map((await readFile(file, 'utf8')).trim().split('\n').map((l) => [l.split(' ')[0]!, Number(l.split(' ')[1])] as const));
  const key = (name: string): number => stat.get(v1 ? `total_${name}` : name)!;
  return { pageFaults: key('pgfault'), majorPageFaults: key('pgmajfault') };
}

describe('CRI verbose info, stats and image sizes as containerd gives them', () => {
  let h: CriHarness;
  beforeAll(async () => {
    h = await startCriHarness();
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('inspectp: runtimeSpec is the OCI config the pod runs with; cniResult names eth0, lo, the host veth and its bridge', async () => {
    const pod = await h.runPod();
    const st = await h.cri.rt('PodSandboxStatus', { pod_sandbox_id: pod.id, verbose: true });
    const i = info(st);
    expect(Object.keys(i)).toEqual(['pid', 'processStatus', 'netNamespaceClosed', 'image', 'snapshotKey', 'snapshotter', 'runtimeHandler', 'runtimeType', 'runtimeOptions', 'config', 'runtimeSpec', 'cniResult']);
    expect(i.runtimeSpec).toMatchObject({ ociVersion: expect.any(String), hostname: pod.config.hostname, process: { cwd: '/' }, root: { path: expect.any(String) } });
    expect(i.runtimeSpec.process.args).toEqual(['pause']);
    expect(i.runtimeSpec.linux.namespaces.map((n: any) => n.type)).toContain('network');

    const ip = st.status.network.ip as string;
    const cni = i.cniResult;
    expect(Object.keys(cni)).toEqual(['Interfaces', 'DNS', 'Routes']);
    const sandbox = `/proc/${i.pid}/ns/net`;
    expect(cni.Interfaces.eth0).toEqual({ IPConfigs: [{ IP: ip, Gateway: h.network.bip.split('/')[0] }], Mac: expect.stringMatching(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/), Sandbox: sandbox });
    expect(cni.Interfaces.lo.IPConfigs[0]).toEqual({ IP: '127.0.0.1', Gateway: '' });
    expect(cni.Interfaces.lo).toMatchObject({ Mac: '00:00:00:00:00:00', Sandbox: sandbox });
    expect(cni.Interfaces[h.network.bridge]).toEqual({ IPConfigs: null, Mac: (await readFile(`/sys/class/net/${h.network.bridge}/address`, 'utf8')).trim(), Sandbox: '' });
    const veth = Object.keys(cni.Interfaces).find((n) => !['eth0', 'lo', h.network.bridge].includes(n))!;
    expect(basename(await readlink(`/sys/class/net/${veth}/master`))).toBe(h.network.bridge);
    expect(cni.Interfaces[veth]).toMatchObject({ IPConfigs: null, Sandbox: '' });
    expect(cni.Routes).toEqual([{ dst: '0.0.0.0/0' }]);
    expect(cni.DNS).toEqual([{}]);

    // a stopped pod's network is gone: no CNI result
    await h.cri.rt('StopPodSandbox', { pod_sandbox_id: pod.id });
    expect(info(await h.cri.rt('PodSandboxStatus', { pod_sandbox_id: pod.id, verbose: true })).cniResult).toBeNull();
    await h.cri.rt('RemovePodSandbox', { pod_sandbox_id: pod.id });

    // a host-network pod has none either
    const hostPod = await h.runPod(h.podConfig({ linux: { security_context: { namespace_options: { network: 2 } } } }));
    expect(info(await h.cri.rt('PodSandboxStatus', { pod_sandbox_id: hostPod.id, verbose: true })).cniResult).toBeNull();
    await h.cri.rt('RemovePodSandbox', { pod_sandbox_id: hostPod.id });
  });

  it('inspect: runtimeSpec carries the container\'s command, env and resources as the runtime got them', async () => {
    const pod = await h.runPod();
    const linux = { resources: { cpu_shares: 512, memory_limit_in_bytes: 64 * MiB } };
    const config = { ...h.containerConfig('specd', 'sleep 1000', linux), envs: [{ key: 'FOO', value: 'bar' }] };
    const { container_id: id } = await h.cri.rt('CreateContainer', { pod_sandbox_id: pod.id, config, sandbox_config: pod.config });
    await h.cri.rt('StartContainer', { container_id: id });
    const i = info(await h.cri.rt('ContainerStatus', { container_id: id, verbose: true }));
    expect(Object.keys(i)).toEqual(['sandboxID', 'pid', 'removing', 'snapshotKey', 'snapshotter', 'runtimeType', 'runtimeOptions', 'config', 'runtimeSpec']);
    expect(i.runtimeSpec.process.args).toEqual(['sh', '-c', 'sleep 1000']);
    expect(i.runtimeSpec.process.env).toContain('FOO=bar');
    expect(i.runtimeSpec.linux.resources).toMatchObject({ memory: { limit: 64 * MiB }, cpu: { shares: 512 } });
    await h.cri.rt('RemovePodSandbox', { pod_sandbox_id: pod.id });
  });

  it('stats: working set, available, usage, rss and page faults from the cgroup; the writable layer\'s bytes and inodes', async () => {
    const pod = await h.runPod();
    const limited = await h.runContainer(pod, 'limited', 'head -c 4194304 /dev/zero > /tmp/blob; sleep 1000', { resources: { memory_limit_in_bytes: 64 * MiB } });
    const free = await h.runContainer(pod, 'free', 'sleep 1000');
    const pid = info(await h.cri.rt('ContainerStatus', { container_id: limited, verbose: true })).pid as number;
    await new Promise((r) => setTimeout(r, 1000));

    const before = await cgroupMemory(pid);
    const s = (await h.cri.rt('ContainerStats', { container_id: limited })).stats;
    const after = await cgroupMemory(pid);
    const n = (v: { value: string }): number => Number(v.value);
    const m = s.memory;
    expect(Object.keys(m)).toEqual(['timestamp', 'working_set_bytes', 'available_bytes', 'usage_bytes', 'rss_bytes', 'page_faults', 'major_page_faults']);
    // counters only grow: the answer lies between two reads of the same cgroup
    expect(n(m.page_faults)).toBeGreaterThanOrEqual(before.pageFaults);
    expect(n(m.page_faults)).toBeLessThanOrEqual(after.pageFaults);
    expect(n(m.page_faults)).toBeGreaterThan(0);
    expect(n(m.major_page_faults)).toBeGreaterThanOrEqual(before.majorPageFaults);
    expect(n(m.major_page_faults)).toBeLessThanOrEqual(after.majorPageFaults);
    expect(n(m.rss_bytes)).toBeGreaterThan(0);
    expect(n(m.working_set_bytes)).toBeLessThanOrEqual(n(m.usage_bytes));
    expect(n(m.available_bytes)).toBe(64 * MiB - n(m.working_set_bytes));
    expect(s.cpu.usage_nano_cores).toEqual({ value: expect.stringMatching(/^\d+$/) });
    // the 4 MiB file written into the container's own layer, and its directory
    expect(n(s.writable_layer.used_bytes)).toBeGreaterThanOrEqual(4 * MiB);
    expect(n(s.writable_layer.inodes_used)).toBeGreaterThanOrEqual(2);
    expect(s.writable_layer.fs_id.mountpoint).toBe(join(h.dir, 'root'));

    // no limit: available is 0, as containerd and kubelet have it
    const f = (await h.cri.rt('ContainerStats', { container_id: free })).stats;
    expect(f.memory.available_bytes).toEqual({ value: '0' });

    // the pod: its containers' and pause process's sum, eth0's traffic, its process count
    const p = (await h.cri.rt('PodSandboxStats', { pod_sandbox_id: pod.id })).stats;
    expect(p.attributes).toMatchObject({ id: pod.id, metadata: pod.config.metadata });
    expect(p.linux.containers.map((c: any) => c.attributes.id).sort()).toEqual([limited, free].sort());
    expect(n(p.linux.memory.usage_bytes)).toBeGreaterThanOrEqual(p.linux.containers.reduce((t: number, c: any) => t + n(c.memory.usage_bytes), 0) - MiB);
    expect(n(p.linux.memory.page_faults)).toBeGreaterThanOrEqual(n(m.page_faults));
    expect(p.linux.network.default_interface).toMatchObject({ name: 'eth0', rx_bytes: { value: expect.stringMatching(/^\d+$/) } });
    expect(n(p.linux.process.process_count)).toBeGreaterThanOrEqual(2);

    // an exited container is listed with its layer, without cpu or memory (containerd's for a container with no task)
    await h.cri.rt('StopContainer', { container_id: free, timeout: 0 });
    const listed = (await h.cri.rt('ListContainerStats', { filter: { pod_sandbox_id: pod.id } })).stats;
    const exited = listed.find((x: any) => x.attributes.id === free);
    expect(exited).toMatchObject({ cpu: null, memory: null, writable_layer: { used_bytes: { value: expect.stringMatching(/^\d+$/) } } });
    expect(listed.find((x: any) => x.attributes.id === limited).memory.rss_bytes.value).toMatch(/^[1-9]\d*$/);
    await h.cri.rt('RemovePodSandbox', { pod_sandbox_id: pod.id });
  });

  it('images: size is the packed one (manifest + config + layer blobs, and the index a tag names) while the Docker API keeps the unpacked Size; chainID and imageSpec as containerd prints them', async () => {
    const registry = h.reg.registry.url;
    const accept = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';
    const res = await fetch(`${registry}/v2/busybox/manifests/latest`, { headers: { accept } });
    const manifestBytes = Buffer.from(await res.arrayBuffer());
    const manifest = JSON.parse(manifestBytes.toString());
    const packed = manifestBytes.length + manifest.config.size + manifest.layers.reduce((t: number, l: any) => t + l.size, 0);

    const st = await h.cri.img('ImageStatus', { image: { image: h.reg.busybox }, verbose: true });
    expect(st.image.size).toBe(String(packed));
    expect((await h.cri.img('ListImages', {})).images.find((x: any) => x.id === st.image.id).size).toBe(String(packed));
    const docker = JSON.parse((await request(join(h.dir, 'run', 'berthd.sock'), 'GET', `/images/${st.image.id}/json`)).body);
    expect(docker.Size).toBeGreaterThan(packed); // Docker's Size: the unpacked layers

    const i = info(st);
    const config = JSON.parse(Buffer.from(await (await fetch(`${registry}/v2/busybox/blobs/${manifest.config.digest}`)).arrayBuffer()).toString());
    const chain = (config.rootfs.diff_ids as string[]).reduce((prev: string | undefined, d) => (prev ? `sha256:${createHash('sha256').update(`${prev} ${d}`).digest('hex')}` : d), undefined);
    expect(i.chainID).toBe(chain);
    expect(i.imageSpec).toMatchObject({ architecture: config.architecture, os: config.os });
    for (const k of Object.keys(i.imageSpec)) expect(['created', 'author', 'architecture', 'variant', 'os', 'os.version', 'os.features', 'config', 'rootfs', 'history']).toContain(k);
    expect(i.imageSpec.rootfs).toEqual({ type: 'layers', diff_ids: config.rootfs.diff_ids });
    // the OCI config's own fields, empty ones left out: no Docker inspect keys
    for (const k of Object.keys(i.imageSpec.config)) expect(['User', 'ExposedPorts', 'Env', 'Entrypoint', 'Cmd', 'Volumes', 'WorkingDir', 'Labels', 'StopSignal', 'ArgsEscaped']).toContain(k);
    expect(i.imageSpec.config.Cmd).toEqual(config.config.Cmd);

    // the same image behind an index (a multi-platform tag): containerd counts the index too
    const index = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: manifest.mediaType ?? 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${createHash('sha256').update(manifestBytes).digest('hex')}`, size: manifestBytes.length, platform: { architecture: config.architecture, os: config.os } }],
    }));
    const put = await fetch(`${registry}/v2/busybox/manifests/indexed`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body: index });
    expect(put.status).toBe(201);
    const indexed = h.reg.busybox.replace(/:latest$/, ':indexed');
    // a fresh image record: remove what the harness pulled (no pod uses it now)
    await h.cri.img('RemoveImage', { image: { image: st.image.id } });
    await h.cri.img('PullImage', { image: { image: indexed } });
    expect((await h.cri.img('ImageStatus', { image: { image: indexed } })).image.size).toBe(String(packed + index.length));
    await h.cri.img('PullImage', { image: { image: h.reg.busybox } });
    // one image, one size (containerd keeps the first pull's)
    expect((await h.cri.img('ImageStatus', { image: { image: h.reg.busybox } })).image.size).toBe(String(packed + index.length));
  });
});
