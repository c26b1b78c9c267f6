import type { CriDeps } from './deps.js';
import { nowNanos } from './meta.js';

/** Each container's last CPU sample: usage_nano_cores is the rate since it (containerd's too). */
const lastCpu = new Map<string, { at: number; usageNanos: number }>();
const FORGET_MS = 10 * 60_000;

function nanoCores(id: string, usageNanos: number | undefined): { value: string } | null {
  if (usageNanos === undefined) return null;
  const at = performance.now();
  const prev = lastCpu.get(id);
  lastCpu.set(id, { at, usageNanos });
  // removed containers' samples go after a while: the map stays bounded by the live ones
  for (const [k, v] of lastCpu) if (at - v.at > FORGET_MS) lastCpu.delete(k);
  if (!prev || at <= prev.at || usageNanos < prev.usageNanos) return null;
  return { value: String(Math.round(((usageNanos - prev.usageNanos) / (at - prev.at)) * 1e3)) };
}

/** CRI ContainerStats from the runtime driver's sample. */
export async function containerStats(d: CriDeps, id: string, attributes: object): Promise<object> {
  const ts = nowNanos();
  const s = await d.runtime.stats(id).catch(() => undefined);
  return {
    attributes,
    cpu: { timestamp: ts, usage_core_nano_seconds: { value: String(Math.round(s?.cpu.usageNanos ?? 0)) }, usage_nano_cores: nanoCores(id, s?.cpu.usageNanos) },
    memory: {
      timestamp: ts,
      working_set_bytes: { value: String(s?.memory.usageBytes ?? 0) },
      usage_bytes: { value: String(s?.memory.usageBytes ?? 0) },
      available_bytes: s?.memory.limitBytes ? { value: String(Math.max(0, s.memory.limitBytes - s.memory.usageBytes)) } : null,
    },
    writable_layer: { timestamp: ts, fs_id: { mountpoint: d.root }, used_bytes: { value: '0' }, inodes_used: { value: '0' } },
  };
}
