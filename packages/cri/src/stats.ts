import type { CriDeps } from './deps.js';
import { nowNanos } from './meta.js';

/** CRI ContainerStats from the runtime driver's sample. */
export async function containerStats(d: CriDeps, id: string, attributes: object): Promise<object> {
  const ts = nowNanos();
  const s = await d.runtime.stats(id).catch(() => undefined);
  return {
    attributes,
    cpu: { timestamp: ts, usage_core_nano_seconds: { value: String(Math.round(s?.cpu.usageNanos ?? 0)) }, usage_nano_cores: null },
    memory: {
      timestamp: ts,
      working_set_bytes: { value: String(s?.memory.usageBytes ?? 0) },
      usage_bytes: { value: String(s?.memory.usageBytes ?? 0) },
      available_bytes: s?.memory.limitBytes ? { value: String(Math.max(0, s.memory.limitBytes - s.memory.usageBytes)) } : null,
    },
    writable_layer: { timestamp: ts, fs_id: { mountpoint: d.root }, used_bytes: { value: '0' }, inodes_used: { value: '0' } },
  };
}
