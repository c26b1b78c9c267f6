import { Readable } from 'node:stream';
import type { ContainerStats as RuntimeContainerStats, InterfaceCounters } from '@berth/runtime';
import type { ContainerStats } from '../docker-types.js';
import { isRunning, type ContainerContext } from './context.js';
import { dockerMemoryStats } from './docker-memory-stats.js';
import { NO_TIME, runtimeIdOf } from './record.js';

const BLKIO_KEYS = [
  'io_service_bytes_recursive',
  'io_serviced_recursive',
  'io_queue_recursive',
  'io_service_time_recursive',
  'io_wait_time_recursive',
  'io_merged_recursive',
  'io_time_recursive',
  'sectors_recursive',
] as const;

/**
 * Docker's blkio_stats shape: every list present, [] for a running container (no per-device
 * entries are collected), null for one that is not running, as dockerd answers.
 */
export function blkioStats(running: boolean): Record<string, unknown[] | null> {
  return Object.fromEntries(BLKIO_KEYS.map((k) => [k, running ? [] : null]));
}

type CpuStats = ContainerStats['cpu_stats'];

const ZERO_CPU: CpuStats = { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } };

/**
 * `docker stats`: one sample (with a first one 100 ms before, for precpu_stats, as the
 * CLI computes CPU % from the two), or a sample a second while `stream`.
 */
export async function containerStats(ctx: ContainerContext, ref: string, opts: { stream?: boolean; signal?: AbortSignal } = {}): Promise<ContainerStats | Readable> {
  const r = ctx.table.resolve(ref);
  let prev: CpuStats = ZERO_CPU;
  let prevRead = NO_TIME;
  const sample = async (): Promise<ContainerStats> => {
    const cur = ctx.table.get(r.id);
    const running = isRunning(cur);
    const s = running ? await ctx.driver.stats(runtimeIdOf(r)).catch(() => undefined) : undefined;
    const cpu: CpuStats = s ? dockerCpu(s) : ZERO_CPU;
    // dockerd's zero time for a container it has no sample of
    const read = s ? new Date().toISOString() : NO_TIME;
    // dockerd's key order (Go's struct order), which some clients print as is
    const out: ContainerStats = {
      read,
      preread: s ? prevRead : NO_TIME,
      pids_stats: s ? { current: s.pids.current, ...(s.pids.limit ? { limit: s.pids.limit } : {}) } : {},
      blkio_stats: blkioStats(s !== undefined),
      num_procs: 0,
      storage_stats: {},
      cpu_stats: cpu,
      precpu_stats: s ? prev : ZERO_CPU,
      memory_stats: s ? dockerMemoryStats(s) : {},
      name: '/' + r.name,
      id: r.id,
      ...(s?.networks ? { networks: dockerNetworks(s.networks) } : {}),
    };
    prev = cpu;
    prevRead = read;
    return out;
  };
  if (!opts.stream) {
    await sample();
    await new Promise((res) => setTimeout(res, 100));
    return sample();
  }
  const out = new Readable({ objectMode: true, read() {} });
  let stop = false;
  opts.signal?.addEventListener('abort', () => (stop = true), { once: true });
  void (async () => {
    while (!stop && !out.destroyed) {
      out.push(await sample());
      await new Promise((res) => setTimeout(res, 1000));
    }
    out.push(null);
  })();
  out.on('close', () => (stop = true));
  return out;
}

/** cpu_stats from a sample: percpu_usage only where the cgroup has it (v1), as dockerd. */
function dockerCpu(s: RuntimeContainerStats): CpuStats {
  const t = s.cpu.throttling;
  return {
    cpu_usage: {
      total_usage: s.cpu.usageNanos,
      ...(s.cpu.perCpuNanos?.length ? { percpu_usage: s.cpu.perCpuNanos } : {}),
      usage_in_kernelmode: s.cpu.systemNanos ?? 0,
      usage_in_usermode: s.cpu.userNanos ?? 0,
    },
    system_cpu_usage: s.host.cpuNanos,
    online_cpus: s.host.onlineCpus,
    throttling_data: { periods: t?.periods ?? 0, throttled_periods: t?.throttledPeriods ?? 0, throttled_time: t?.throttledNanos ?? 0 },
  };
}

/** Docker's names for the counters (as its stats `networks` shows them). */
function dockerNetworks(n: Record<string, InterfaceCounters>): NonNullable<ContainerStats['networks']> {
  return Object.fromEntries(
    Object.entries(n).map(([name, c]) => [
      name,
      { rx_bytes: c.rxBytes, rx_packets: c.rxPackets, rx_errors: c.rxErrors, rx_dropped: c.rxDropped, tx_bytes: c.txBytes, tx_packets: c.txPackets, tx_errors: c.txErrors, tx_dropped: c.txDropped },
    ]),
  );
}
