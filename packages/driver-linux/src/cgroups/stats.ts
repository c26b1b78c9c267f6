import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerStats } from '@berth/runtime';
import type { CgroupMounts } from './layout.js';

/** What a cgroup tells of a container: the runtime contract's figures less the host's and the network's. */
type CgroupStats = Pick<ContainerStats, 'cpu' | 'memory' | 'pids'> & { cgroup: 'v1' | 'v2'; oomKills: number };

async function read(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

function num(s: string | undefined): number | undefined {
  if (s === undefined || s === 'max' || s === '') return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

function keyed(text: string | undefined): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.split(/\s+/);
    if (k && v !== undefined) m.set(k, Number(v));
  }
  return m;
}

/** memory.stat as a record of exact counters: a bigint where a double would round one. */
function exactRecord(text: string | undefined): Record<string, number | bigint> {
  const out: Record<string, number | bigint> = {};
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.split(/\s+/);
    if (!k || v === undefined) continue;
    const n = Number(v);
    out[k] = Number.isSafeInteger(n) || !/^-?\d+$/.test(v) ? n : BigInt(v);
  }
  return out;
}

/** memory.stat's figures kubelet reads, by their names in `memory.stat` (v1 counts the subtree: the total_ keys). */
function memoryStat(stat: Map<string, number>, v1: boolean): Pick<CgroupStats['memory'], 'rssBytes' | 'inactiveFileBytes' | 'pageFaults' | 'majorPageFaults'> {
  const key = (v1Name: string, v2Name: string): number | undefined => stat.get(v1 ? `total_${v1Name}` : v2Name);
  const out: ReturnType<typeof memoryStat> = {};
  const rss = key('rss', 'anon');
  if (rss !== undefined) out.rssBytes = rss;
  const inactive = key('inactive_file', 'inactive_file');
  if (inactive !== undefined) out.inactiveFileBytes = inactive;
  const faults = key('pgfault', 'pgfault');
  if (faults !== undefined) out.pageFaults = faults;
  const major = key('pgmajfault', 'pgmajfault');
  if (major !== undefined) out.majorPageFaults = major;
  return out;
}

const TICK_NANOS = 1e9 / 100; // USER_HZ is 100 on Linux

/** Memory limit values this large mean "no limit" on cgroup v1. */
const V1_UNLIMITED = 2 ** 62;

/** The OOM kill count alone (one file): what an exit needs to know, without the full stats. */
export async function readOomKills(mounts: CgroupMounts, path: string): Promise<number> {
  if (mounts.layout === 'v2') return keyed(await read(join(mounts.unified as string, path, 'memory.events'))).get('oom_kill') ?? 0;
  return keyed(await read(join(mounts.v1.get('memory') ?? '/sys/fs/cgroup/memory', path, 'memory.oom_control'))).get('oom_kill') ?? 0;
}

/** Reads cpu, memory, pids and the OOM kill count of cgroup `path` (e.g. /berth/<id>). */
export async function readCgroupStats(mounts: CgroupMounts, path: string): Promise<CgroupStats> {
  if (mounts.layout === 'v2') {
    const dir = join(mounts.unified as string, path);
    const cpu = keyed(await read(join(dir, 'cpu.stat')));
    const events = keyed(await read(join(dir, 'memory.events')));
    const memStatText = await read(join(dir, 'memory.stat'));
    const memStat = keyed(memStatText);
    const out: CgroupStats = {
      cgroup: 'v2',
      cpu: {
        usageNanos: (cpu.get('usage_usec') ?? 0) * 1000,
        userNanos: (cpu.get('user_usec') ?? 0) * 1000,
        systemNanos: (cpu.get('system_usec') ?? 0) * 1000,
        throttling: { periods: cpu.get('nr_periods') ?? 0, throttledPeriods: cpu.get('nr_throttled') ?? 0, throttledNanos: (cpu.get('throttled_usec') ?? 0) * 1000 },
      },
      memory: {
        usageBytes: num(await read(join(dir, 'memory.current'))) ?? 0,
        // v2 counts no failures; "oom" events are what dockerd reports as failcnt there
        failCount: events.get('oom') ?? 0,
        ...memoryStat(memStat, false),
        stat: exactRecord(memStatText),
      },
      pids: { current: num(await read(join(dir, 'pids.current'))) ?? 0 },
      oomKills: events.get('oom_kill') ?? 0,
    };
    const limit = num(await read(join(dir, 'memory.max')));
    if (limit !== undefined) out.memory.limitBytes = limit;
    const peak = num(await read(join(dir, 'memory.peak')));
    if (peak !== undefined) out.memory.maxUsageBytes = peak;
    const pidsMax = num(await read(join(dir, 'pids.max')));
    if (pidsMax !== undefined) out.pids.limit = pidsMax;
    return out;
  }
  const ctl = (name: string) => join(mounts.v1.get(name) ?? `/sys/fs/cgroup/${name}`, path);
  const cpuacct = ctl('cpuacct');
  const mem = ctl('memory');
  const pids = ctl('pids');
  const stat = keyed(await read(join(cpuacct, 'cpuacct.stat')));
  const oom = keyed(await read(join(mem, 'memory.oom_control')));
  const throttle = keyed(await read(join(ctl('cpu'), 'cpu.stat')));
  const memStatText = await read(join(mem, 'memory.stat'));
  const memStat = keyed(memStatText);
  const perCpu = (await read(join(cpuacct, 'cpuacct.usage_percpu')))?.split(/\s+/).filter(Boolean).map(Number);
  const failCount = num(await read(join(mem, 'memory.failcnt')));
  const out: CgroupStats = {
    cgroup: 'v1',
    cpu: {
      usageNanos: num(await read(join(cpuacct, 'cpuacct.usage'))) ?? 0,
      userNanos: (stat.get('user') ?? 0) * TICK_NANOS,
      systemNanos: (stat.get('system') ?? 0) * TICK_NANOS,
      ...(perCpu ? { perCpuNanos: perCpu } : {}),
      throttling: { periods: throttle.get('nr_periods') ?? 0, throttledPeriods: throttle.get('nr_throttled') ?? 0, throttledNanos: throttle.get('throttled_time') ?? 0 },
    },
    memory: {
      usageBytes: num(await read(join(mem, 'memory.usage_in_bytes'))) ?? 0,
      ...(failCount !== undefined ? { failCount } : {}),
      ...memoryStat(memStat, true),
      stat: exactRecord(memStatText),
    },
    pids: { current: num(await read(join(pids, 'pids.current'))) ?? 0 },
    oomKills: oom.get('oom_kill') ?? 0,
  };
  const limit = num(await read(join(mem, 'memory.limit_in_bytes')));
  if (limit !== undefined && limit < V1_UNLIMITED) out.memory.limitBytes = limit;
  const max = num(await read(join(mem, 'memory.max_usage_in_bytes')));
  if (max !== undefined) out.memory.maxUsageBytes = max;
  const pidsMax = num(await read(join(pids, 'pids.max')));
  if (pidsMax !== undefined) out.pids.limit = pidsMax;
  return out;
}

/** Whether the memory controller can limit swap (v1 memsw files / v2 memory.swap.max). */
export async function swapLimitSupported(mounts: CgroupMounts): Promise<boolean> {
  const probe =
    mounts.layout === 'v2'
      ? join(mounts.unified as string, 'memory.swap.max')
      : join(mounts.v1.get('memory') ?? '/sys/fs/cgroup/memory', 'memory.memsw.limit_in_bytes');
  if (mounts.layout === 'v2') {
    // the root cgroup has no memory.swap.max; look at the controllers instead
    const ctrls = await read(join(mounts.unified as string, 'cgroup.controllers'));
    return (ctrls ?? '').split(' ').includes('memory') && (await read('/proc/swaps'))?.includes('\n') === true;
  }
  return (await read(probe)) !== undefined;
}
