/**
 * The `io.kubernetes.cri.*` annotations containerd 1.6 puts in the OCI spec of a pod's
 * sandbox and containers (its pkg/cri/annotations), which runtimes and hooks read (Kata,
 * gVisor, NRI plugins, log agents). The engine's labels reach the runtime as annotations,
 * so these travel as labels of the sandbox's and the containers' engine containers.
 */
const P = 'io.kubernetes.cri.';

interface PodMetadata {
  name: string;
  uid: string;
  namespace: string;
}

export function sandboxAnnotations(id: string, pod: PodMetadata, logDirectory: string): Record<string, string> {
  return {
    [`${P}container-type`]: 'sandbox',
    [`${P}sandbox-id`]: id,
    [`${P}sandbox-namespace`]: pod.namespace,
    [`${P}sandbox-uid`]: pod.uid,
    [`${P}sandbox-name`]: pod.name,
    [`${P}sandbox-log-directory`]: logDirectory,
  };
}

export function containerAnnotations(sandboxId: string, pod: PodMetadata, containerName: string, imageName: string): Record<string, string> {
  return {
    [`${P}container-type`]: 'container',
    [`${P}sandbox-id`]: sandboxId,
    [`${P}sandbox-namespace`]: pod.namespace,
    [`${P}sandbox-uid`]: pod.uid,
    [`${P}sandbox-name`]: pod.name,
    [`${P}container-name`]: containerName,
    [`${P}image-name`]: imageName,
  };
}
