/**
 * What the engine asks of a running Windows container beside HCS's own answers: the
 * host's counters for `docker stats` and the `docker top` table as dockerd on Windows
 * makes it (moby daemon/top_windows.go) from HCS's ProcessList.
 */
import { cpus, totalmem } from 'node:os';
import type { ProcessDetails } from '@berth/hcs';
import type { ContainerStats, ProcessTable } from '@berth/runtime';

let lastCpuNanos = 0;

/**
 * The host's CPU clock (all CPUs, busy and idle), online CPUs and memory. A CPU's idle
 * counter can step back a tick on some kernels, so the clock never goes below its last value.
 */
export function hostSample(): ContainerStats['host'] {
  const all = cpus();
  let ms = 0;
  for (const c of all) ms += c.times.user + c.times.nice + c.times.sys + c.times.idle + c.times.irq;
  lastCpuNanos = Math.max(lastCpuNanos, ms * 1e6);
  return { cpuNanos: lastCpuNanos, onlineCpus: Math.max(1, all.length), memoryBytes: totalmem() };
}

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];

/** go-units HumanSize: decimal units, 4 significant digits (`1.573MB`). */
export function humanSize(bytes: number): string {
  let size = bytes;
  let i = 0;
  while (size >= 1000 && i < DECIMAL_UNITS.length - 1) {
    size /= 1000;
    i++;
  }
  return `${Number(size.toPrecision(4))}${DECIMAL_UNITS[i]}`;
}

/** hh:mm:ss.mmm of the process' user and kernel time together. */
function cpuTime(p: ProcessDetails): string {
  const ms = Math.floor(((p.KernelTime100ns ?? 0) + (p.UserTime100ns ?? 0)) / 10_000);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(Math.floor(ms / 3_600_000))}:${two(Math.floor(ms / 60_000) % 60)}:${two(Math.floor(ms / 1000) % 60)}.${String(ms % 1000).padStart(3, '0')}`;
}

/** dockerd's Windows top: no ps, so no arguments and no command lines, only image names. */
export function windowsTop(list: ProcessDetails[]): ProcessTable {
  return {
    titles: ['Name', 'PID', 'CPU', 'Private Working Set'],
    processes: list.map((p) => [p.ImageName ?? '', String(p.ProcessId), cpuTime(p), humanSize(p.MemoryWorkingSetPrivateBytes ?? 0)]),
  };
}
