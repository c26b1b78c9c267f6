import { ConflictError } from '@berth/image-format';
import type { ContainerTop } from '../docker-types.js';
import { isRunning, type ContainerContext } from './context.js';
import { runtimeIdOf } from './record.js';

/** `docker top`: the driver's process table of the container (ps's columns on Linux, with the client's ps_args). */
export async function top(ctx: ContainerContext, ref: string, opts: { psArgs?: string } = {}): Promise<ContainerTop> {
  const r = ctx.table.resolve(ref);
  if (!isRunning(r)) throw new ConflictError(`Container ${r.id} is not running`);
  const t = await ctx.driver.processes(runtimeIdOf(r), opts.psArgs ? { psArgs: opts.psArgs } : {});
  return { Titles: t.titles, Processes: t.processes };
}
