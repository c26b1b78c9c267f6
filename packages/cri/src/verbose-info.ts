// The `info` maps of verbose ContainerStatus / PodSandboxStatus (what `crictl inspect` and
// `crictl inspectp` print), in containerd's shape so tools written against it (`.info.pid`,
// `.info.config.metadata`, `.info.sandboxID`, `.info.runtimeSpec.linux`) read berthd alike.
import type { ContainerInspect, HostConfig } from '@berth/engine';
import { cniResult } from './cni-result.js';
import type { CriDeps } from './deps.js';
import type { ContainerMeta, SandboxMeta } from './meta.js';

/** The CRI config the object was created from, kept as a label (containerd's `info.config`). */
export const CONFIG_LABEL = 'io.berth.cri.config';

function configOf(c: ContainerInspect): unknown {
  const raw = c.Config.Labels?.[CONFIG_LABEL];
  if (!raw) return null;
  try {
    return JSON.parse(raw);
  } catch {
    return null;
  }
}

/** The request's config without proto3's empty defaults, as containerd's Go JSON (omitempty) shows it. */
export function compactConfig(v: unknown): unknown {
  if (Array.isArray(v)) return v.length > 0 ? v.map(compactConfig) : undefined;
  if (v === null || v === undefined || v === '' || v === false || v === 0 || v === '0') return undefined;
  if (typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const c = compactConfig(x);
    if (c !== undefined) out[k] = c;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function processStatus(c: ContainerInspect): string {
  if (c.State.Running) return c.State.Paused ? 'paused' : 'running';
  return c.State.Status === 'created' ? 'created' : 'stopped';
}

/** The OCI config the runtime got (the driver's, once the container has been created there); null before. */
async function runtimeSpec(d: CriDeps, id: string): Promise<unknown> {
  return d.runtime.ociSpec ? d.runtime.ociSpec(id).catch(() => null) : null;
}

export async function containerInfo(d: CriDeps, c: ContainerInspect, meta: ContainerMeta): Promise<Record<string, string>> {
  const runtimeType = d.runtime.name;
  return {
    info: JSON.stringify({
      sandboxID: meta.sandboxId,
      pid: c.State.Pid,
      removing: false,
      snapshotKey: c.Id,
      snapshotter: c.GraphDriver?.Name ?? '',
      runtimeType,
      runtimeOptions: null,
      config: configOf(c),
      runtimeSpec: await runtimeSpec(d, c.Id),
    }),
  };
}

/** `ip` is the pod's IP, empty for a host-network or stopped pod (no CNI result then). */
export async function sandboxInfo(d: CriDeps, c: ContainerInspect, meta: SandboxMeta, ip: string): Promise<Record<string, string>> {
  const runtimeType = d.runtime.name;
  const [spec, cni] = await Promise.all([runtimeSpec(d, c.Id), cniResult(c, ip)]);
  return {
    info: JSON.stringify({
      pid: c.State.Pid,
      processStatus: processStatus(c),
      // StopPodSandbox tears the network down with the pause process
      netNamespaceClosed: !c.State.Running,
      image: c.Config.Image,
      snapshotKey: c.Id,
      snapshotter: c.GraphDriver?.Name ?? '',
      runtimeHandler: meta.runtimeHandler,
      runtimeType,
      runtimeOptions: null,
      config: configOf(c),
      runtimeSpec: spec,
      cniResult: cni,
    }),
  };
}

/** ContainerStatus.resources (CRI 1.26; kubelet's in-place resize reads it) from what the engine applied. */
export function containerResources(h: HostConfig): object {
  return {
    linux: {
      cpu_period: String(h.CpuPeriod ?? 0),
      cpu_quota: String(h.CpuQuota ?? 0),
      cpu_shares: String(h.CpuShares ?? 0),
      memory_limit_in_bytes: String(h.Memory ?? 0),
      oom_score_adj: String(h.OomScoreAdj ?? 0),
      cpuset_cpus: h.CpusetCpus ?? '',
      cpuset_mems: h.CpusetMems ?? '',
      hugepage_limits: [],
      unified: {},
      memory_swap_limit_in_bytes: String(h.MemorySwap && h.MemorySwap > 0 ? h.MemorySwap : 0),
    },
    windows: null,
  };
}
