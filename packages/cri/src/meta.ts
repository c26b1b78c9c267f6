import { NAMESPACE_LABEL } from '@berth/engine';

/**
 * How a CRI pod or container lives in the engine's container store: an engine container
 * in the `k8s.io` namespace (hidden from `docker ps`), whose labels are the CRI labels
 * plus Berth's own, among them the CRI object as JSON (what the status answers need and
 * the engine does not keep). The store survives a berthd restart, so the CRI state does.
 */
export const CRI_NAMESPACE = 'k8s.io';
export const KIND_LABEL = 'io.berth.cri.kind';
export const META_LABEL = 'io.berth.cri.meta';
export const SANDBOX_LABEL = 'io.berth.cri.sandbox';

export type Kind = 'sandbox' | 'container';

export interface SandboxMeta {
  metadata: { name: string; uid: string; namespace: string; attempt: number };
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Nanoseconds since the epoch, as a decimal string. */
  createdAt: string;
  runtimeHandler: string;
  logDirectory: string;
  hostname: string;
  /** NamespaceOption of the pod (network, pid, ipc as CRI's enum numbers). */
  namespaces: { network: number; pid: number; ipc: number };
  dns?: { servers: string[]; searches: string[]; options: string[] };
}

export interface ContainerMeta {
  sandboxId: string;
  metadata: { name: string; attempt: number };
  labels: Record<string, string>;
  annotations: Record<string, string>;
  createdAt: string;
  image: string;
  imageRef: string;
  logPath: string;
  mounts: { container_path: string; host_path: string; readonly: boolean; selinux_relabel: boolean; propagation: number }[];
}

export function objectLabels(kind: Kind, meta: SandboxMeta | ContainerMeta, extra: Record<string, string> = {}): Record<string, string> {
  return { ...meta.labels, ...extra, [NAMESPACE_LABEL]: CRI_NAMESPACE, [KIND_LABEL]: kind, [META_LABEL]: JSON.stringify(meta) };
}

export function readMeta<T extends SandboxMeta | ContainerMeta>(labels: Record<string, string> | null | undefined): T | undefined {
  const raw = labels?.[META_LABEL];
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as T;
  } catch {
    return undefined;
  }
}

export function nowNanos(): string {
  return toNanos(new Date().toISOString());
}

/** RFC 3339 (nanoseconds kept) to nanoseconds since the epoch as a decimal string; '0' for Docker's zero time. */
export function toNanos(time: string | undefined): string {
  if (!time || time.startsWith('0001-')) return '0';
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(time);
  if (!m) {
    const ms = Date.parse(time);
    return Number.isNaN(ms) ? '0' : (BigInt(ms) * 1_000_000n).toString();
  }
  const secs = BigInt(Math.floor(Date.parse(`${m[1]}${m[3]}`) / 1000));
  const frac = BigInt((m[2] ?? '').padEnd(9, '0').slice(0, 9) || '0');
  return (secs * 1_000_000_000n + frac).toString();
}

/** A CRI label selector: every pair must match. */
export function matchSelector(labels: Record<string, string>, selector: Record<string, string> | undefined): boolean {
  for (const [k, v] of Object.entries(selector ?? {})) if (labels[k] !== v) return false;
  return true;
}
