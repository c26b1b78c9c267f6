import { execFile } from 'node:child_process';
import { readdir, readlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { ConflictError } from '@berth/image-format';
import type { ContainerTop } from '../docker-types.js';
import { isRunning, type ContainerContext } from './context.js';

const run = promisify(execFile);

/** `docker top`: the host's `ps` (with the client's ps_args) over the container's processes. */
export async function top(ctx: ContainerContext, ref: string, opts: { psArgs?: string } = {}): Promise<ContainerTop> {
  const r = ctx.table.resolve(ref);
  if (!isRunning(r)) throw new ConflictError(`Container ${r.id} is not running`);
  const ns = await readlink(`/proc/${r.state.pid}/ns/pid`).catch(() => '');
  const pids: string[] = [];
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    if (ns && (await readlink(`/proc/${p}/ns/pid`).catch(() => '')) === ns) pids.push(p);
  }
  if (pids.length === 0) return { Titles: ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD'], Processes: [] };
  const args = opts.psArgs ? opts.psArgs.split(/\s+/).filter(Boolean) : ['-f'];
  const { stdout } = await run('ps', [...args, '-p', pids.join(',')]);
  const lines = stdout.trimEnd().split('\n');
  const titles = lines[0]!.trim().split(/\s+/);
  const processes = lines.slice(1).map((l) => {
    const cols = l.trim().split(/\s+/);
    return [...cols.slice(0, titles.length - 1), cols.slice(titles.length - 1).join(' ')];
  });
  return { Titles: titles, Processes: processes };
}
