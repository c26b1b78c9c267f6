import { readFile } from 'node:fs/promises';
import type { ContainerStats } from '../docker-types.js';

export type NetworkStats = NonNullable<ContainerStats['networks']>;

/**
 * Per-interface counters of a process's network namespace, as Docker's stats `networks`:
 * read from /proc/<pid>/net/dev (the namespace's view), loopback left out. Undefined when
 * the namespace has no other interface (network none), so the key is absent as in Docker.
 */
export async function networkStats(pid: number): Promise<NetworkStats | undefined> {
  const text = await readFile(`/proc/${pid}/net/dev`, 'utf8').catch(() => '');
  return parseNetDev(text);
}

/** Parses /proc/net/dev: after the two header lines, `name: rx(8 fields) tx(8 fields)`. */
export function parseNetDev(text: string): NetworkStats | undefined {
  const out: NetworkStats = {};
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (name === 'lo' || f.length < 16 || f.some((n) => !Number.isFinite(n))) continue;
    const n = (i: number): number => f[i] as number;
    out[name] = {
      rx_bytes: n(0),
      rx_packets: n(1),
      rx_errors: n(2),
      rx_dropped: n(3),
      tx_bytes: n(8),
      tx_packets: n(9),
      tx_errors: n(10),
      tx_dropped: n(11),
    };
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

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
