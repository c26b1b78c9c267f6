import { InvalidArgumentError } from '@berth/image-format';
import type { Filters } from '../docker-types.js';
import { FilterSet } from '../filters.js';
import { isActive, type ContainerContext } from './context.js';

/** `docker container prune`: every container not running (filters: label, until). */
export async function prune(
  ctx: ContainerContext,
  remove: (id: string) => Promise<void>,
  opts: { filters?: Filters } = {},
): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }> {
  const f = new FilterSet(opts.filters, ['label', 'until']);
  const until = f.get('until')[0];
  const deleted: string[] = [];
  let space = 0;
  for (const r of ctx.table.all()) {
    if (isActive(r)) continue;
    if (!f.matchLabels('label', r.config.Labels)) continue;
    if (until && Date.parse(r.created) >= parseUntil(until)) continue;
    space += await ctx.deps.snapshots.usage(r.snapshotKey).catch(() => 0);
    await remove(r.id);
    deleted.push(r.id);
  }
  return { ContainersDeleted: deleted, SpaceReclaimed: space };
}

/** Docker's `until`: a Unix timestamp, a duration before now (`10m`), or a date. */
export function parseUntil(v: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const m = /^(\d+)(s|m|h)$/.exec(v);
  if (m) return Date.now() - Number(m[1]) * ({ s: 1000, m: 60_000, h: 3_600_000 } as const)[m[2] as 's' | 'm' | 'h'];
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new InvalidArgumentError(`invalid filter 'until=${v}'`);
  return t;
}
