// Volume and network commands.
import { InvalidArgumentError } from '@berth/image-format';
import type { Volume } from '@berth/engine-api';
import type { Context } from '../context.js';
import { errorMessage } from '../context.js';
import { NETWORK_DEFAULT, NETWORK_HEADERS, VOLUME_DEFAULT, VOLUME_HEADERS, networkFields, volumeFields } from '../format/contexts.js';
import { indentJson, renderEach, renderRows } from '../format/render.js';
import { humanSize } from '../format/units.js';
import { parseFilters } from './filters.js';

function keyValues(list: string[]): Record<string, string> {
  return Object.fromEntries(
    list.map((kv) => {
      const i = kv.indexOf('=');
      return i < 0 ? [kv, ''] : [kv.slice(0, i), kv.slice(i + 1)];
    }),
  );
}

async function each(ctx: Context, names: string[], fn: (n: string) => Promise<void>): Promise<number> {
  let failed = false;
  for (const n of names) {
    try {
      await fn(n);
    } catch (err) {
      failed = true;
      ctx.err(`${errorMessage(err)}\n`);
    }
  }
  return failed ? 1 : 0;
}

export async function volumeCreate(ctx: Context, name: string | undefined, flags: { driver?: string; opt: string[]; label: string[]; name?: string }): Promise<number> {
  const client = await ctx.client();
  const v = await client.volumeCreate({
    ...((name ?? flags.name) ? { Name: name ?? flags.name } : {}),
    Driver: flags.driver ?? 'local',
    DriverOpts: keyValues(flags.opt),
    Labels: keyValues(flags.label),
  });
  ctx.out(`${v.Name}\n`);
  return 0;
}

export async function volumeLs(ctx: Context, flags: { quiet?: boolean; filter: string[]; format?: string }): Promise<number> {
  const client = await ctx.client();
  const res = await client.volumeList({ filters: parseFilters(flags.filter) });
  const vols = [...(res.Volumes ?? [])].sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
  const format = flags.quiet && !flags.format ? '{{.Name}}' : flags.format;
  ctx.out(renderRows(vols.map(volumeFields), { format, defaultFormat: VOLUME_DEFAULT, headers: VOLUME_HEADERS }));
  for (const w of res.Warnings ?? []) ctx.err(`${w}\n`);
  return 0;
}

export async function volumeRm(ctx: Context, names: string[], flags: { force?: boolean }): Promise<number> {
  const client = await ctx.client();
  return each(ctx, names, async (n) => {
    await client.volumeRemove(n, { force: Boolean(flags.force) });
    ctx.out(`${n}\n`);
  });
}

export async function volumeInspect(ctx: Context, names: string[], flags: { format?: string }): Promise<number> {
  const client = await ctx.client();
  const found: unknown[] = [];
  const code = await each(ctx, names, async (n) => {
    found.push(volumeInGoOrder(await client.volumeInspect(n)));
  });
  ctx.out(flags.format ? renderEach(found, flags.format) : indentJson(found));
  return code;
}

/**
 * docker prints a volume re-encoded from its Go struct: fields in the struct's order,
 * the optional ones only when set.
 */
function volumeInGoOrder(v: Volume): Record<string, unknown> {
  const src = v as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of ['CreatedAt', 'Driver', 'Labels', 'Mountpoint', 'Name', 'Options', 'Scope']) out[k] = src[k] ?? (k === 'CreatedAt' ? undefined : null);
  for (const k of ['ClusterVolume', 'Status', 'UsageData']) if (src[k] !== undefined && src[k] !== null) out[k] = src[k];
  return out;
}

export async function volumePrune(ctx: Context, flags: { all?: boolean; filter: string[]; force?: boolean }): Promise<number> {
  const client = await ctx.client();
  const filters = parseFilters(flags.filter);
  if (flags.all) filters['all'] = ['true'];
  const res = await client.volumePrune(filters);
  const deleted = res.VolumesDeleted ?? [];
  if (deleted.length > 0) ctx.out(`Deleted Volumes:\n${deleted.join('\n')}\n\n`);
  ctx.out(`Total reclaimed space: ${humanSize(res.SpaceReclaimed ?? 0)}\n`);
  return 0;
}

export async function networkCreate(
  ctx: Context,
  name: string,
  flags: { driver?: string; subnet: string[]; gateway: string[]; ipRange: string[]; internal?: boolean; attachable?: boolean; label: string[]; opt: string[]; ipv6?: boolean },
): Promise<number> {
  const client = await ctx.client();
  if (flags.gateway.length > flags.subnet.length) throw new InvalidArgumentError('every ip-range or gateway must have a corresponding subnet');
  const config = flags.subnet.map((s, i) => ({
    Subnet: s,
    ...(flags.gateway[i] ? { Gateway: flags.gateway[i] } : {}),
    ...(flags.ipRange[i] ? { IPRange: flags.ipRange[i] } : {}),
  }));
  const res = await client.networkCreate({
    Name: name,
    Driver: flags.driver ?? 'bridge',
    Internal: Boolean(flags.internal),
    Attachable: Boolean(flags.attachable),
    EnableIPv6: Boolean(flags.ipv6),
    IPAM: { Driver: 'default', Config: config, Options: {} },
    Options: keyValues(flags.opt),
    Labels: keyValues(flags.label),
  });
  if (res.Warning) ctx.err(`${res.Warning}\n`);
  ctx.out(`${res.Id}\n`);
  return 0;
}

export async function networkLs(ctx: Context, flags: { quiet?: boolean; filter: string[]; format?: string; trunc?: boolean }): Promise<number> {
  const client = await ctx.client();
  const list = [...(await client.networkList({ filters: parseFilters(flags.filter) }))].sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
  const format = flags.quiet && !flags.format ? '{{.ID}}' : flags.format;
  ctx.out(renderRows(list.map((n) => networkFields(n, { trunc: flags.trunc !== false })), { format, defaultFormat: NETWORK_DEFAULT, headers: NETWORK_HEADERS }));
  return 0;
}

export async function networkRm(ctx: Context, names: string[]): Promise<number> {
  const client = await ctx.client();
  return each(ctx, names, async (n) => {
    await client.networkRemove(n);
    ctx.out(`${n}\n`);
  });
}

export async function networkInspect(ctx: Context, names: string[], flags: { format?: string }): Promise<number> {
  const client = await ctx.client();
  const found: unknown[] = [];
  const code = await each(ctx, names, async (n) => {
    found.push(await client.networkInspect(n));
  });
  ctx.out(flags.format ? renderEach(found, flags.format) : indentJson(found));
  return code;
}

export async function networkConnect(ctx: Context, network: string, container: string, flags: { alias: string[]; ip?: string }): Promise<number> {
  const client = await ctx.client();
  await client.networkConnect(network, {
    Container: container,
    EndpointConfig: {
      ...(flags.alias.length > 0 ? { Aliases: flags.alias } : {}),
      ...(flags.ip ? { IPAMConfig: { IPv4Address: flags.ip } } : {}),
    },
  });
  return 0;
}

export async function networkDisconnect(ctx: Context, network: string, container: string, flags: { force?: boolean }): Promise<number> {
  await (await ctx.client()).networkDisconnect(network, { Container: container, Force: Boolean(flags.force) });
  return 0;
}

export async function networkPrune(ctx: Context, flags: { filter: string[]; force?: boolean }): Promise<number> {
  const res = await (await ctx.client()).networkPrune(parseFilters(flags.filter));
  const deleted = res.NetworksDeleted ?? [];
  if (deleted.length > 0) ctx.out(`Deleted Networks:\n${deleted.join('\n')}\n\n`);
  return 0;
}
