// CRI stats (ContainerStats, ListContainerStats, PodSandboxStats) with containerd 1.6's
// semantics, so kubelet's summary API reads berthd as it reads containerd: working set is
// usage less inactive file pages, available is limit less working set (0 when unlimited),
// rss and page faults are memory.stat's (v1 total_rss/total_pgfault/total_pgmajfault, v2
// anon/pgfault/pgmajfault), usage_nano_cores is the rate since the previous sample (0 first).
import type { ContainerStats as DriverStats } from '@berth/runtime';
import type { CriDeps } from './deps.js';
import { nowNanos } from './meta.js';

const FORGET_MS = 10 * 60_000;
/** The writable layer is walked at most this often per container (containerd syncs snapshot usage every 10 s). */
const LAYER_USAGE_TTL_MS = 10_000;

/** Each container's (and pod's) last CPU sample: usage_nano_cores is the rate since it. */
const lastCpu = new Map<string, { at: number; usageNanos: number }>();
/** Each container's last walk of its writable layer. */
const layerUsage = new Map<string, { at: number; timestamp: string; usage: Promise<{ bytes: number; inodes: number }> }>();

const u64 = (n: number): { value: string } => ({ value: String(Math.max(0, Math.round(n))) });

function forgetOld<V extends { at: number }>(m: Map<string, V>, now: number): void {
  // removed containers' entries go after a while: the maps stay bounded by the live ones
  for (const [k, v] of m) if (now - v.at > FORGET_MS) m.delete(k);
}

function nanoCores(id: string, usageNanos: number): { value: string } {
  const at = performance.now();
  const prev = lastCpu.get(id);
  lastCpu.set(id, { at, usageNanos });
  forgetOld(lastCpu, at);
  if (!prev || at <= prev.at || usageNanos < prev.usageNanos) return u64(0);
  return u64(((usageNanos - prev.usageNanos) / (at - prev.at)) * 1e3);
}

/** What kubelet reads of a cgroup's memory, from the driver's sample. */
function memoryUsage(m: DriverStats['memory'], timestamp: string): object {
  const workingSet = m.inactiveFileBytes !== undefined && m.inactiveFileBytes < m.usageBytes ? m.usageBytes - m.inactiveFileBytes : m.inactiveFileBytes === undefined ? m.usageBytes : 0;
  return {
    timestamp,
    working_set_bytes: u64(workingSet),
    available_bytes: u64(m.limitBytes !== undefined ? m.limitBytes - workingSet : 0),
    usage_bytes: u64(m.usageBytes),
    rss_bytes: u64(m.rssBytes ?? 0),
    page_faults: u64(m.pageFaults ?? 0),
    major_page_faults: u64(m.majorPageFaults ?? 0),
  };
}

async function writableLayer(d: CriDeps, id: string): Promise<object> {
  const now = performance.now();
  let entry = layerUsage.get(id);
  if (!entry || now - entry.at > LAYER_USAGE_TTL_MS) {
    entry = { at: now, timestamp: nowNanos(), usage: d.engine.containers.writableLayer(id).catch(() => ({ bytes: 0, inodes: 0 })) };
    layerUsage.set(id, entry);
    forgetOld(layerUsage, now);
  }
  const u = await entry.usage;
  return { timestamp: entry.timestamp, fs_id: { mountpoint: d.root }, used_bytes: u64(u.bytes), inodes_used: u64(u.inodes) };
}

/** The driver's sample of a running container; undefined when it has none (not running). */
async function sample(d: CriDeps, id: string): Promise<DriverStats | undefined> {
  return d.runtime.stats(id).catch(() => undefined);
}

/** CRI ContainerStats: cpu and memory null without a running process, as containerd's for a container with no task. */
export async function containerStats(d: CriDeps, id: string, attributes: object, s?: DriverStats): Promise<object> {
  s ??= await sample(d, id);
  const ts = nowNanos();
  return {
    attributes,
    cpu: s ? { timestamp: ts, usage_core_nano_seconds: u64(s.cpu.usageNanos), usage_nano_cores: nanoCores(id, s.cpu.usageNanos) } : null,
    memory: s ? memoryUsage(s.memory, ts) : null,
    writable_layer: await writableLayer(d, id),
  };
}

/**
 * PodSandboxStats.linux: the pod's cgroup as containerd reads it is the sum of its
 * containers' and its pause process's; here each has its own cgroup, so the pod's figures
 * are that sum. Network is the pod's eth0 (the sandbox's namespace), processes the count in
 * the pod's running containers.
 */
export async function podStats(d: CriDeps, sandboxId: string, attributes: object, containers: { id: string; attributes: object }[]): Promise<object> {
  const [pause, ...samples] = await Promise.all([sample(d, sandboxId), ...containers.map((c) => sample(d, c.id))]);
  const stats = await Promise.all(containers.map((c, i) => containerStats(d, c.id, c.attributes, samples[i])));
  const all = [pause, ...samples].filter((s): s is DriverStats => s !== undefined);
  if (!pause) return { attributes, linux: { cpu: null, memory: null, network: null, process: null, containers: stats }, windows: null };
  const sum = (pick: (s: DriverStats) => number | undefined): number => all.reduce((n, s) => n + (pick(s) ?? 0), 0);
  const ts = nowNanos();
  const usageNanos = sum((s) => s.cpu.usageNanos);
  const eth0 = pause.networks?.eth0;
  return {
    attributes,
    linux: {
      cpu: { timestamp: ts, usage_core_nano_seconds: u64(usageNanos), usage_nano_cores: nanoCores(sandboxId, usageNanos) },
      memory: memoryUsage(
        {
          usageBytes: sum((s) => s.memory.usageBytes),
          rssBytes: sum((s) => s.memory.rssBytes),
          inactiveFileBytes: sum((s) => s.memory.inactiveFileBytes),
          pageFaults: sum((s) => s.memory.pageFaults),
          majorPageFaults: sum((s) => s.memory.majorPageFaults),
        },
        ts,
      ),
      network: eth0
        ? { timestamp: ts, default_interface: { name: 'eth0', rx_bytes: u64(eth0.rxBytes), rx_errors: u64(eth0.rxErrors), tx_bytes: u64(eth0.txBytes), tx_errors: u64(eth0.txErrors) }, interfaces: [] }
        : null,
      process: { timestamp: ts, process_count: u64(samples.reduce((n, s) => n + (s?.pids.current ?? 0), 0)) },
      containers: stats,
    },
    windows: null,
  };
}
