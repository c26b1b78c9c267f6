import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCriHarness, until, type CriHarness } from './support/cri-harness.js';

// A pod that shares its PID namespace (pid POD) has the sandbox's process as PID 1, and
// every orphan of every container is handed to it. Kubernetes' pause reaps them; a PID 1
// that does not leaves a zombie per orphan until the pod goes.
const POD = 0;
const pidPod = { security_context: { namespace_options: { pid: POD } } };

interface Proc {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
}

describe('CRI pod PID 1 reaps orphans', () => {
  let h: CriHarness;
  beforeAll(async () => {
    h = await startCriHarness();
  });
  afterAll(async () => {
    await h?.stop();
  });

  /** The pod's processes as the kernel sees them (/proc/N/stat: pid (comm) state ppid ...). */
  const procs = async (id: string): Promise<Proc[]> => {
    const { out } = await h.exec(id, ['sh', '-c', 'cat /proc/[0-9]*/stat 2>/dev/null']);
    return out
      .split('\n')
      .map((l) => /^(\d+) \((.*)\) (\S) (\d+) /.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ pid: Number(m[1]), comm: m[2] ?? '', state: m[3] ?? '', ppid: Number(m[4]) }));
  };

  it('a container\'s orphans are re-parented to the pod\'s PID 1 and reaped when they exit', async () => {
    const pod = await h.runPod(h.podConfig({ linux: pidPod }));
    // three subshells each leave a `sleep 2` behind and exit: the sleeps are orphans
    const id = await h.runContainer(pod, 'orphans', '(sleep 2 &); (sleep 2 &); (sleep 2 &); exec sleep 3600', pidPod);
    const orphans = await until(
      () => procs(id),
      (ps) => ps.filter((p) => p.comm === 'sleep' && p.ppid === 1).length === 3,
    );
    // they belong to the pod's PID 1 now, not to the container's process
    expect(orphans.filter((p) => p.comm === 'sleep' && p.ppid === 1)).toHaveLength(3);
    // once they have exited, nothing of them remains: no zombie after a bounded wait
    const after = await until(
      () => procs(id),
      (ps) => ps.every((p) => p.state !== 'Z') && ps.filter((p) => p.ppid === 1 && p.comm === 'sleep').length === 0,
      10_000,
    );
    expect(after.filter((p) => p.state === 'Z')).toEqual([]);
    expect(after.filter((p) => p.ppid === 1 && p.comm === 'sleep')).toEqual([]);
    // the pod's own processes are still there: its PID 1 and the container's sleep 3600
    expect(after.some((p) => p.pid === 1)).toBe(true);
    expect(after.some((p) => p.comm === 'sleep')).toBe(true);
    await h.cri.rt('RemovePodSandbox', { pod_sandbox_id: pod.id });
  }, 60_000);

  it('a removed container\'s orphans go with it (they are left in its cgroup)', async () => {
    const pod = await h.runPod(h.podConfig({ linux: pidPod }));
    const leaver = await h.runContainer(pod, 'leaver', '(sleep 1007 &); exec sleep 3600', pidPod);
    const watcher = await h.runContainer(pod, 'watcher', 'exec sleep 3601', pidPod);
    const args = async (): Promise<string> => (await h.exec(watcher, ['ps', '-o', 'args'])).out;
    expect(await until(args, (ps) => /sleep 1007/.test(ps))).toMatch(/sleep 1007/);
    await h.cri.rt('StopContainer', { container_id: leaver, timeout: 0 });
    await h.cri.rt('RemoveContainer', { container_id: leaver });
    const after = await until(args, (ps) => !/sleep 1007/.test(ps), 5_000);
    expect(after).not.toMatch(/sleep 1007|sleep 3600/);
    expect(after).toMatch(/sleep 3601/);
    await h.cri.rt('RemovePodSandbox', { pod_sandbox_id: pod.id });
  }, 60_000);
});

describe('CRI pod sandboxes on a host without an init binary', () => {
  let h: CriHarness;
  beforeAll(async () => {
    // as on a host with none of tini, docker-init or catatonit
    h = await startCriHarness({ 'init-path': '/nonexistent/berth-test-init' });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('run as anywhere: the pod\'s own pause, which reaps, is PID 1 (it needs no init binary)', async () => {
    const pod = await h.runPod(h.podConfig({ linux: pidPod }));
    const id = await h.runContainer(pod, 'c', 'exec sleep 3600', pidPod);
    expect((await h.exec(id, ['cat', '/proc/1/cmdline'])).out.split('\0')).toEqual(['pause', '']);
    // the next pod too (the missing init is remembered)
    const next = await h.runPod(h.podConfig({ linux: pidPod }));
    const { status } = await h.cri.rt('PodSandboxStatus', { pod_sandbox_id: next.id });
    expect(status.state).toBe(0); // SANDBOX_READY
    await h.cri.rt('RemovePodSandbox', { pod_sandbox_id: pod.id });
    await h.cri.rt('RemovePodSandbox', { pod_sandbox_id: next.id });
  }, 60_000);
});
