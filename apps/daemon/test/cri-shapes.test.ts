import { rename, stat } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCriHarness, until, type CriHarness } from './support/cri-harness.js';

// The answers' shapes as kubelet and crictl read them, set beside containerd 1.6's (compared
// field by field with crictl against both): ids, nanosecond times as decimal strings, enum
// states, the verbose `info` maps in containerd's keys (`crictl inspect[p|i]`).
const NANOS = /^[1-9]\d{18}$/;
const ID = /^[0-9a-f]{64}$/;
const info = (r: any): any => JSON.parse(r.info.info);

describe('CRI answer shapes', () => {
  let h: CriHarness;
  beforeAll(async () => {
    h = await startCriHarness();
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('pod sandbox: status, verbose info, list; stopped: not ready, no IP, namespace closed', async () => {
    const config = h.podConfig({ linux: { security_context: { namespace_options: { pid: 1 } } } });
    const pod = await h.runPod(config);
    expect(pod.id).toMatch(ID);
    const st = await h.cri.rt('PodSandboxStatus', { pod_sandbox_id: pod.id, verbose: true });
    expect(st.status).toMatchObject({
      id: pod.id,
      metadata: config.metadata,
      state: 0,
      labels: config.labels,
      annotations: config.annotations,
      runtime_handler: '',
      linux: { namespaces: { options: { network: 0, pid: 1, ipc: 0 } } },
    });
    expect(st.status.created_at).toMatch(NANOS);
    expect(st.status.network.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    // the config as sent, empty fields left out (containerd's Go JSON: attempt 0 is absent)
    const i = info(st);
    expect(i.config.metadata.attempt).toBeUndefined();
    expect(i).toMatchObject({ processStatus: 'running', netNamespaceClosed: false, runtimeHandler: '', config: { metadata: { name: config.metadata.name, uid: config.metadata.uid, namespace: 'crit' }, hostname: config.hostname, log_directory: config.log_directory, labels: config.labels } });
    expect(i.pid).toBeGreaterThan(0);
    expect(typeof i.runtimeType).toBe('string');

    const [item] = (await h.cri.rt('ListPodSandbox', { filter: { id: pod.id } })).items;
    expect(item).toMatchObject({ id: pod.id, metadata: config.metadata, state: 0, labels: config.labels, annotations: config.annotations, runtime_handler: '' });
    expect(item.created_at).toBe(st.status.created_at);

    await h.cri.rt('StopPodSandbox', { pod_sandbox_id: pod.id });
    const stopped = await h.cri.rt('PodSandboxStatus', { pod_sandbox_id: pod.id, verbose: true });
    expect(stopped.status).toMatchObject({ state: 1, network: { ip: '' } });
    expect(info(stopped)).toMatchObject({ pid: 0, processStatus: 'stopped', netNamespaceClosed: true });
    await h.cri.rt('RemovePodSandbox', { pod_sandbox_id: pod.id });
  });

  it('container: status with resources and mounts, verbose info in containerd\'s keys, list, exited state', async () => {
    const pod = await h.runPod();
    const linux = { resources: { cpu_shares: 512, memory_limit_in_bytes: 64 * 1024 * 1024 }, security_context: { namespace_options: { pid: 1 } } };
    const config = { ...h.containerConfig('shaped', 'sleep 1000', linux), envs: [{ key: 'FOO', value: 'bar' }], annotations: { a: 'b' }, mounts: [{ container_path: '/data', host_path: h.dir }] };
    const { container_id: id } = await h.cri.rt('CreateContainer', { pod_sandbox_id: pod.id, config, sandbox_config: pod.config });
    expect(id).toMatch(ID);
    const created = await h.cri.rt('ContainerStatus', { container_id: id });
    expect(created.status).toMatchObject({ state: 0, started_at: '0', finished_at: '0', exit_code: 0 });
    await h.cri.rt('StartContainer', { container_id: id });

    const st = await h.cri.rt('ContainerStatus', { container_id: id, verbose: true });
    expect(st.status).toMatchObject({
      id,
      metadata: { name: 'shaped', attempt: 0 },
      state: 1,
      finished_at: '0',
      exit_code: 0,
      image: { image: h.reg.busybox },
      reason: '',
      message: '',
      labels: { c: 'shaped' },
      annotations: { a: 'b' },
      mounts: [{ container_path: '/data', host_path: h.dir, readonly: false, selinux_relabel: false, propagation: 0 }],
      log_path: `${pod.config.log_directory}/shaped/0.log`,
      resources: { linux: { cpu_shares: '512', memory_limit_in_bytes: String(64 * 1024 * 1024), cpu_quota: '0', oom_score_adj: '0' } },
    });
    expect(st.status.created_at).toMatch(NANOS);
    expect(st.status.started_at).toMatch(NANOS);
    expect(st.status.image_ref).toMatch(/^sha256:[0-9a-f]{64}$/);
    const i = info(st);
    expect(i).toMatchObject({ sandboxID: pod.id, removing: false, snapshotKey: id, config: { metadata: { name: 'shaped' }, command: ['sh', '-c'], args: ['sleep 1000'], envs: [{ key: 'FOO', value: 'bar' }], log_path: 'shaped/0.log' } });
    expect(i.pid).toBeGreaterThan(0);

    const [row] = (await h.cri.rt('ListContainers', { filter: { id } })).containers;
    expect(row).toMatchObject({ id, pod_sandbox_id: pod.id, metadata: { name: 'shaped', attempt: 0 }, image: { image: h.reg.busybox }, image_ref: st.status.image_ref, state: 1, labels: { c: 'shaped' }, annotations: { a: 'b' } });
    expect(row.created_at).toBe(st.status.created_at);

    // kubelet's CRI stats: a CPU rate from the second sample on
    const first = (await h.cri.rt('ContainerStats', { container_id: id })).stats;
    expect(first).toMatchObject({ attributes: { id, metadata: { name: 'shaped' } } });
    expect(first.cpu.timestamp).toMatch(NANOS);
    expect(first.memory.working_set_bytes.value).toMatch(/^\d+$/);
    await new Promise((r) => setTimeout(r, 200));
    expect((await h.cri.rt('ContainerStats', { container_id: id })).stats.cpu.usage_nano_cores.value).toMatch(/^\d+$/);

    await h.cri.rt('StopContainer', { container_id: id, timeout: 0 });
    const ex = await h.cri.rt('ContainerStatus', { container_id: id });
    expect(ex.status).toMatchObject({ state: 2, exit_code: 137, reason: 'Error' });
    expect(ex.status.finished_at).toMatch(NANOS);
    await h.cri.rt('RemovePodSandbox', { pod_sandbox_id: pod.id });
  });

  it('ReopenContainerLog answers once the new log file exists, as containerd (kubelet and critest look at once)', async () => {
    const pod = await h.runPod();
    const id = await h.runContainer(pod, 'reopen', 'while :; do echo tick; sleep 0.2; done');
    const path = (await h.cri.rt('ContainerStatus', { container_id: id })).status.log_path as string;
    await until(() => stat(path).then((s) => s.size, () => 0), (n) => n > 0);
    for (let i = 0; i < 3; i++) {
      await rename(path, `${path}.${i}`);
      await h.cri.rt('ReopenContainerLog', { container_id: id });
      expect((await stat(path)).isFile()).toBe(true);
    }
    await h.cri.rt('RemovePodSandbox', { pod_sandbox_id: pod.id });
  });

  it('images: list and status fields; no user leaves uid unset (as containerd)', async () => {
    const st = await h.cri.img('ImageStatus', { image: { image: h.reg.busybox }, verbose: true });
    expect(st.image).toMatchObject({ repo_tags: [h.reg.busybox], uid: null, username: '', pinned: false });
    expect(st.image.id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(st.image.repo_digests[0]).toMatch(/@sha256:[0-9a-f]{64}$/);
    expect(st.image.size).toMatch(/^[1-9]\d*$/);
    const i = info(st);
    expect(i.imageSpec).toMatchObject({ os: 'linux' });
    expect(i.chainID).toMatch(/^sha256:/);
    const listed = (await h.cri.img('ListImages', {})).images.find((x: any) => x.id === st.image.id);
    expect(listed).toMatchObject({ id: st.image.id, repo_tags: st.image.repo_tags, repo_digests: st.image.repo_digests, size: st.image.size, uid: null, username: '' });
  });
});
