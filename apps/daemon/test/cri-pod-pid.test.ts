import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCriHarness, type CriHarness } from './support/cri-harness.js';

// CRI NamespaceOption.pid as containerd answers it: POD (or no namespace_options) puts the
// pod's containers in the sandbox's PID namespace, CONTAINER gives one its own, TARGET joins
// another container's.
const POD = 0;
const CONTAINER = 1;
const TARGET = 3;
const pidNs = (pid: number, target_id?: string): object => ({ security_context: { namespace_options: { pid, ...(target_id ? { target_id } : {}) } } });

describe('CRI pod PID namespace', () => {
  let h: CriHarness;
  beforeAll(async () => {
    h = await startCriHarness();
  });
  afterAll(async () => {
    await h?.stop();
  });

  const procs = async (id: string): Promise<string> => (await h.exec(id, ['ps', '-o', 'pid,args'])).out;

  it('POD: two containers of a pod see each other\'s processes, the pod\'s pause as PID 1', async () => {
    const pod = await h.runPod(h.podConfig({ linux: pidNs(POD) }));
    const a = await h.runContainer(pod, 'a', 'exec sleep 1001', pidNs(POD));
    // no namespace_options at all: the pod's too (containerd's reading of the proto default)
    const b = await h.runContainer(pod, 'b', 'exec sleep 1002');
    for (const id of [a, b]) {
      const seen = await procs(id);
      expect(seen).toMatch(/^\s*1 pause$/m);
      expect(seen).toMatch(/sleep 1001/);
      expect(seen).toMatch(/sleep 1002/);
    }
    const ns = async (id: string): Promise<string> => (await h.exec(id, ['readlink', '/proc/self/ns/pid'])).out;
    expect(await ns(a)).toBe(await ns(b));
    // PID 1 is no `sleep` to the pod's pgrep (critest's execSync timeout check)
    expect((await h.exec(a, ['cat', '/proc/1/comm'])).out).not.toMatch(/^sleep/);
    const comms = (await h.exec(a, ['sh', '-c', 'cat /proc/[0-9]*/comm 2>/dev/null'])).out.split('\n');
    expect(comms.filter((c) => c === 'sleep')).toHaveLength(2);
    await h.cri.rt('StopPodSandbox', { pod_sandbox_id: pod.id });
    await h.cri.rt('RemovePodSandbox', { pod_sandbox_id: pod.id });
  });

  it('CONTAINER: a container of its own sees only its processes; TARGET joins another container', async () => {
    const pod = await h.runPod(h.podConfig({ linux: pidNs(CONTAINER) }));
    const own = await h.runContainer(pod, 'own', 'exec sleep 1003', pidNs(CONTAINER));
    const other = await h.runContainer(pod, 'other', 'exec sleep 1004', pidNs(CONTAINER));
    const mine = await procs(own);
    expect(mine).toMatch(/^\s*1 sleep 1003$/m);
    expect(mine).not.toMatch(/sleep 1004|infinity/);
    const joined = await h.runContainer(pod, 'joined', 'exec sleep 1005', pidNs(TARGET, own));
    const seen = await procs(joined);
    expect(seen).toMatch(/^\s*1 sleep 1003$/m);
    expect(seen).toMatch(/sleep 1005/);
    expect(seen).not.toMatch(/sleep 1004/);
    expect(await procs(other)).not.toMatch(/sleep 100[35]/);
    await h.cri.rt('RemovePodSandbox', { pod_sandbox_id: pod.id });
  });
});
