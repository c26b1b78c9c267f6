import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCriHarness, type CriHarness } from './support/cri-harness.js';

// The io.kubernetes.cri.* annotations kubelet's runtimes find in the OCI spec, the set
// containerd 1.6 gives (pkg/cri/annotations): read back from the spec the runtime got
// (`crictl inspectp` / `crictl inspect`: verbose info's runtimeSpec).
const spec = (r: any): any => JSON.parse(r.info.info).runtimeSpec;

describe('CRI: io.kubernetes.cri.* annotations in the runtime spec', () => {
  let h: CriHarness;
  beforeAll(async () => {
    h = await startCriHarness();
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('the sandbox says it is one, with its id, name, namespace, uid and log directory; its containers name their pod, themselves and their image', async () => {
    // a user's label of the same name does not change what the runtime is told
    const pod = await h.runPod(h.podConfig({ labels: { 'io.kubernetes.cri.container-type': 'forged' } }));
    const md = pod.config.metadata;
    const podSpec = spec(await h.cri.rt('PodSandboxStatus', { pod_sandbox_id: pod.id, verbose: true }));
    expect(podSpec.annotations).toMatchObject({
      'io.kubernetes.cri.container-type': 'sandbox',
      'io.kubernetes.cri.sandbox-id': pod.id,
      'io.kubernetes.cri.sandbox-name': md.name,
      'io.kubernetes.cri.sandbox-namespace': md.namespace,
      'io.kubernetes.cri.sandbox-uid': md.uid,
      'io.kubernetes.cri.sandbox-log-directory': pod.config.log_directory,
    });

    const id = await h.runContainer(pod, 'annotated', 'sleep 1000');
    const cSpec = spec(await h.cri.rt('ContainerStatus', { container_id: id, verbose: true }));
    expect(cSpec.annotations).toMatchObject({
      'io.kubernetes.cri.container-type': 'container',
      'io.kubernetes.cri.sandbox-id': pod.id,
      'io.kubernetes.cri.sandbox-name': md.name,
      'io.kubernetes.cri.sandbox-namespace': md.namespace,
      'io.kubernetes.cri.sandbox-uid': md.uid,
      'io.kubernetes.cri.container-name': 'annotated',
      'io.kubernetes.cri.image-name': h.reg.busybox,
    });
    expect(Object.keys(cSpec.annotations)).not.toContain('io.kubernetes.cri.sandbox-log-directory');
    await h.cri.rt('RemovePodSandbox', { pod_sandbox_id: pod.id });
  });
});
