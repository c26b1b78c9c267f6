import { readFile } from 'node:fs/promises';
import type { ContainerStats } from '../docker-types.js';

type NetworkStats = NonNullable<ContainerStats['networks']>;

/**
 * A container's interface counters as Docker's stats `networks` shows them, read from
 * /proc/<pid>/net/dev (the counters of the process's network namespace). Loopback is
 * left out, as in Docker; `undefined` (no `networks` key, as Docker for `--network
 * none`/host) when there is no other interface or the process is gone.
 */
export async function interfaceStats(pid: number): Promise<NetworkStats | undefined> {
  if (!pid) return undefined;
  const text = await readFile(`/proc/${pid}/net/dev`, 'utf8').catch(() => undefined);
  if (!text) return undefined;
  return parseNetDev(text);
}

export function parseNetDev(text: string): NetworkStats | undefined {
  const out: NetworkStats = {};
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (!name || name === 'lo') continue;
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    out[name] = {
      rx_bytes: f[0] ?? 0,
      rx_packets: f[1] ?? 0,
      rx_errors: f[2] ?? 0,
      rx_dropped: f[3] ?? 0,
      tx_bytes: f[8] ?? 0,
      tx_packets: f[9] ?? 0,
      tx_errors: f[10] ?? 0,
      tx_dropped: f[11] ?? 0,
    };
  }
  return Object.keys(out).length > 0 ? out : undefined;
}
