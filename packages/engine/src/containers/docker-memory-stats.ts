import type { ContainerStats as RuntimeStats } from '@berth/runtime';
import type { ContainerStats } from '../docker-types.js';

/**
 * The memory.stat counters dockerd puts in `memory_stats.stats` on cgroup v1: a fixed set
 * (containerd's v1 metrics), 0 when the kernel does not write one; newer counters of the
 * file (shmem, swap, workingset_*) are left out, as dockerd leaves them out.
 */
const V1_KEYS = [
  'cache', 'rss', 'rss_huge', 'mapped_file', 'dirty', 'writeback', 'pgpgin', 'pgpgout', 'pgfault', 'pgmajfault',
  'inactive_anon', 'active_anon', 'inactive_file', 'active_file', 'unevictable', 'hierarchical_memory_limit', 'hierarchical_memsw_limit',
  'total_cache', 'total_rss', 'total_rss_huge', 'total_mapped_file', 'total_dirty', 'total_writeback', 'total_pgpgin', 'total_pgpgout',
  'total_pgfault', 'total_pgmajfault', 'total_inactive_anon', 'total_active_anon', 'total_inactive_file', 'total_active_file', 'total_unevictable',
];

/** The same on cgroup v2 (containerd's v2 metrics; dockerd says they are not v1's). */
const V2_KEYS = [
  'anon', 'file', 'kernel_stack', 'slab', 'sock', 'shmem', 'file_mapped', 'file_dirty', 'file_writeback', 'anon_thp',
  'inactive_anon', 'active_anon', 'inactive_file', 'active_file', 'unevictable', 'slab_reclaimable', 'slab_unreclaimable',
  'pgfault', 'pgmajfault', 'workingset_refault', 'workingset_activate', 'workingset_nodereclaim', 'pgrefill', 'pgscan', 'pgsteal',
  'pgactivate', 'pgdeactivate', 'pglazyfree', 'pglazyfreed', 'thp_fault_alloc', 'thp_collapse_alloc',
];

/**
 * Docker's `memory_stats` for a sample: usage, max_usage (v1 only), failcnt, limit (the
 * host's memory when the cgroup's is above it, i.e. unlimited) and the counters above
 * with their keys sorted, as Go writes a map. Zero figures are left out (Go's omitempty).
 */
export function dockerMemoryStats(s: RuntimeStats): ContainerStats['memory_stats'] {
  const m = s.memory;
  const v2 = s.cgroup === 'v2';
  const out: Record<string, unknown> = {};
  if (m.usageBytes) out['usage'] = m.usageBytes;
  if (!v2 && m.maxUsageBytes) out['max_usage'] = m.maxUsageBytes;
  if (m.stat) {
    const stat = m.stat;
    out['stats'] = Object.fromEntries([...(v2 ? V2_KEYS : V1_KEYS)].sort().map((k) => [k, stat[k] ?? 0]));
  }
  if (m.failCount) out['failcnt'] = m.failCount;
  const limit = m.limitBytes === undefined || m.limitBytes > s.host.memoryBytes ? s.host.memoryBytes : m.limitBytes;
  if (limit) out['limit'] = limit;
  return out as ContainerStats['memory_stats'];
}
