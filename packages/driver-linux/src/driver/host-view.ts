// What the engine sees of a running container through the driver rather than the
// host's /proc: its processes (docker top), host and interface counters (docker stats)
// and its root as a directory (docker cp).
import { execFile } from 'node:child_process';
import { readFile, readlink } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { promisify } from 'node:util';
import { ConflictError } from '@berth/image-format';
import type { ContainerStats, InterfaceCounters, OpenedRoot, ProcessTable } from '@berth/runtime';
import { cgroupPids } from '../cgroups/procs.js';
import type { DriverContext } from './context.js';
import type { ContainerRecord } from './records.js';

const run = promisify(execFile);

async function running(ctx: DriverContext, id: string): Promise<ContainerRecord> {
  const rec = await ctx.records.current(id);
  if (rec.status !== 'running' || !(rec.pid > 0)) throw new ConflictError(`container ${id} is not running`);
  return rec;
}

/** The host's `ps` (with the client's ps_args, `-f` by default, as Docker's) over the container's cgroup. */
export async function listProcesses(ctx: DriverContext, id: string, psArgs?: string): Promise<ProcessTable> {
  const rec = await running(ctx, id);
  const pids = await cgroupPids(ctx.cgroups, rec.cgroupsPath);
  const args = psArgs ? psArgs.split(/\s+/).filter(Boolean) : ['-f'];
  if (pids.length === 0) return { titles: ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD'], processes: [] };
  const { stdout } = await run('ps', [...args, '-p', pids.join(',')]);
  const lines = stdout.trimEnd().split('\n');
  const titles = lines[0]!.trim().split(/\s+/);
  // the last column (the command) keeps its spaces
  const processes = lines.slice(1).map((l) => {
    const cols = l.trim().split(/\s+/);
    return [...cols.slice(0, titles.length - 1), cols.slice(titles.length - 1).join(' ')];
  });
  return { titles, processes };
}

/** The running process' root: its mount namespace's view, volumes and binds included. */
export async function openContainerRoot(ctx: DriverContext, id: string): Promise<OpenedRoot> {
  const rec = await running(ctx, id);
  return { path: `/proc/${rec.pid}/root`, mountPoints: await mountPointsOf(rec.pid), release: async () => undefined };
}

/** Where the process' mount namespace has mounts: the binds of /etc/hosts and the like, volumes, /dev... */
async function mountPointsOf(pid: number): Promise<string[]> {
  const text = await readFile(`/proc/${pid}/mountinfo`, 'utf8').catch(() => '');
  const points: string[] = [];
  for (const line of text.split('\n')) {
    const field = line.split(' ')[4];
    // mountinfo escapes space, tab, newline and backslash as octal
    if (field) points.push(field.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return points;
}

/** CPU time of the whole host (/proc/stat's first line, USER_HZ = 100), online CPUs and memory. */
export async function hostCounters(): Promise<ContainerStats['host']> {
  const text = await readFile('/proc/stat', 'utf8').catch(() => '');
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  const ticks = line ? line.split(/\s+/).slice(1, 8).reduce((a, b) => a + Number(b), 0) : 0;
  return { cpuNanos: ticks * 1e7, onlineCpus: cpus().length, memoryBytes: totalmem() };
}

/**
 * The interfaces of the process' network namespace (loopback left out); none when that
 * namespace is the host's (`--network host`) or the process is gone.
 */
export async function interfaceCounters(pid: number): Promise<Record<string, InterfaceCounters> | undefined> {
  if (!(pid > 0)) return undefined;
  const [ns, hostNs] = await Promise.all([readlink(`/proc/${pid}/ns/net`).catch(() => ''), readlink('/proc/self/ns/net').catch(() => '')]);
  if (!ns || ns === hostNs) return undefined;
  const text = await readFile(`/proc/${pid}/net/dev`, 'utf8').catch(() => undefined);
  return text ? parseNetDev(text) : undefined;
}

export function parseNetDev(text: string): Record<string, InterfaceCounters> | undefined {
  const out: Record<string, InterfaceCounters> = {};
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (!name || name === 'lo') continue;
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    out[name] = {
      rxBytes: f[0] ?? 0,
      rxPackets: f[1] ?? 0,
      rxErrors: f[2] ?? 0,
      rxDropped: f[3] ?? 0,
      txBytes: f[8] ?? 0,
      txPackets: f[9] ?? 0,
      txErrors: f[10] ?? 0,
      txDropped: f[11] ?? 0,
    };
  }
  return Object.keys(out).length > 0 ? out : undefined;
}
