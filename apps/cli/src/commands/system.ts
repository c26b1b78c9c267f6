// System commands: version, info, system df/prune, events, login, logout, inspect.
import type { EngineClient, EventMessage } from '@berth/engine-api';
import { InvalidArgumentError, NotFoundError } from '@berth/image-format';
import { Context, errorMessage, isDaemonError } from '../context.js';
import { indentJson, renderEach } from '../format/render.js';
import { Template } from '../format/template.js';
import { humanSize, parseTimestamp } from '../format/units.js';
import { tabwrite } from '../format/tabwriter.js';
import { BERTH_BUILD, BERTH_VERSION } from '../version.js';
import { removeAuth, serverKey, storeAuth } from './auth-store.js';
import { parseFilters } from './filters.js';

const VERSION_TEMPLATE = `Client:
 Version:           {{.Client.Version}}
 API version:       {{.Client.APIVersion}}{{if ne .Client.APIVersion .Client.DefaultAPIVersion}} (downgraded from {{.Client.DefaultAPIVersion}}){{end}}
 Go version:        {{.Client.GoVersion}}
 Git commit:        {{.Client.GitCommit}}
 Built:             {{.Client.BuildTime}}
 OS/Arch:           {{.Client.Os}}/{{.Client.Arch}}
 Context:           {{.Client.Context}}
{{- if .ServerOK}}

Server:{{if .Server.Platform.Name}} {{.Server.Platform.Name}}{{end}}
{{- range $component := .Server.Components}}
 {{$component.Name}}:
  {{- if eq $component.Name "Engine" }}
  Version:          {{.Version}}
  API version:      {{index .Details "ApiVersion"}} (minimum version {{index .Details "MinAPIVersion"}})
  Go version:       {{index .Details "GoVersion"}}
  Git commit:       {{index .Details "GitCommit"}}
  Built:            {{index .Details "BuildTime"}}
  OS/Arch:          {{index .Details "Os"}}/{{index .Details "Arch"}}
  Experimental:     {{index .Details "Experimental"}}
  {{- else }}
  Version:          {{$component.Version}}
  {{- range $key, $value := $component.Details}}
  {{$key}}:	{{$value}}
  {{- end}}
  {{- end}}
{{- end}}
{{- end}}
`;

export async function version(ctx: Context, flags: { format?: string }): Promise<number> {
  const clientInfo = {
    Platform: { Name: 'Berth' },
    Version: BERTH_VERSION,
    APIVersion: '',
    DefaultAPIVersion: '1.50',
    GoVersion: `node${process.versions.node}`,
    GitCommit: BERTH_BUILD,
    BuildTime: '',
    Os: process.platform,
    Arch: process.arch === 'x64' ? 'amd64' : process.arch,
    Context: 'default',
  };
  let server: unknown;
  let serverErr: unknown;
  try {
    const client = await ctx.client();
    clientInfo.APIVersion = await client.apiVersion();
    server = goFieldNames(reformatBuildTimes(await client.version()));
  } catch (err) {
    serverErr = err;
    clientInfo.APIVersion = clientInfo.DefaultAPIVersion;
  }
  const data = { Client: clientInfo, Server: server ?? null, ServerOK: server !== undefined };
  if (flags.format) {
    const f = flags.format === 'json' ? '{{json .}}' : flags.format;
    ctx.out(`${Template.parse(f).execute({ Client: clientInfo, Server: server ?? null })}\n`);
  } else {
    const text = Template.parse(VERSION_TEMPLATE).execute(data);
    ctx.out(tabwrite(text, { minWidth: 20, padding: 1 }));
  }
  if (serverErr) {
    ctx.err(`${errorMessage(serverErr)}\n`);
    return 1;
  }
  return 0;
}

/** docker shows the Engine's build time in Go's ANSIC layout (`Thu Jan  1 00:00:00 1970`). */
function reformatBuildTimes<T extends { Components?: { Name: string; Details?: Record<string, string> }[] }>(v: T): T {
  for (const c of v.Components ?? []) {
    const bt = c.Details?.['BuildTime'];
    if (c.Name === 'Engine' && bt && !Number.isNaN(Date.parse(bt))) (c.Details as Record<string, string>)['BuildTime'] = ansic(new Date(bt));
  }
  return v;
}

function ansic(d: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${days[d.getDay()]} ${months[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())} ${d.getFullYear()}`;
}

/** Templates see Go's field names: the API's `ApiVersion` is `.APIVersion` (not in JSON output). */
function goFieldNames<T extends object>(v: T): T {
  const o = v as Record<string, unknown>;
  for (const [json, go] of [['ApiVersion', 'APIVersion']] as const) {
    if (json in o) Object.defineProperty(o, go, { value: o[json], enumerable: false });
  }
  return v;
}

export async function info(ctx: Context, flags: { format?: string }): Promise<number> {
  const client = await ctx.client();
  const i = await client.info();
  if (flags.format) {
    ctx.out(renderEach([i], flags.format));
    return 0;
  }
  const lines: string[] = [];
  lines.push('Client:', ` Version:    ${BERTH_VERSION}`, ` Context:    default`, ` Debug Mode: false`, '', 'Server:');
  lines.push(` Containers: ${i.Containers}`, `  Running: ${i.ContainersRunning}`, `  Paused: ${i.ContainersPaused}`, `  Stopped: ${i.ContainersStopped}`);
  lines.push(` Images: ${i.Images}`, ` Server Version: ${i.ServerVersion}`, ` Storage Driver: ${i.Driver}`);
  for (const [k, v] of i.DriverStatus ?? []) lines.push(`  ${k}: ${v}`);
  lines.push(` Logging Driver: ${i.LoggingDriver}`, ` Cgroup Driver: ${i.CgroupDriver}`, ` Cgroup Version: ${i.CgroupVersion}`);
  lines.push(' Plugins:', `  Volume: ${(i.Plugins?.Volume ?? []).join(' ')}`, `  Network: ${(i.Plugins?.Network ?? []).join(' ')}`, `  Log: ${(i.Plugins?.Log ?? []).join(' ')}`);
  lines.push(` Runtimes: ${Object.keys(i.Runtimes ?? {}).join(' ')}`, ` Default Runtime: ${i.DefaultRuntime}`);
  if ((i.SecurityOptions ?? []).length > 0) {
    lines.push(' Security Options:');
    for (const o of i.SecurityOptions) {
      const kv = Object.fromEntries(o.split(',').map((p) => p.split('=') as [string, string]));
      lines.push(`  ${kv['name'] ?? o}`);
      for (const [k, v] of Object.entries(kv)) if (k !== 'name') lines.push(`   ${k[0]?.toUpperCase()}${k.slice(1)}: ${v}`);
    }
  }
  lines.push(` Kernel Version: ${i.KernelVersion}`, ` Operating System: ${i.OperatingSystem}`, ` OSType: ${i.OSType}`, ` Architecture: ${i.Architecture}`);
  lines.push(` CPUs: ${i.NCPU}`, ` Total Memory: ${(i.MemTotal / 1024 ** 3).toFixed(2)}GiB`, ` Name: ${i.Name}`, ` ID: ${i.ID}`, ` Docker Root Dir: ${i.DockerRootDir}`);
  lines.push(` Debug Mode: ${i.Debug}`, ` Experimental: ${i.ExperimentalBuild}`);
  const insecure = i.RegistryConfig?.InsecureRegistryCIDRs ?? [];
  if (insecure.length > 0) {
    lines.push(' Insecure Registries:');
    for (const c of insecure) lines.push(`  ${c}`);
  }
  lines.push(` Live Restore Enabled: ${i.LiveRestoreEnabled}`, '');
  ctx.out(lines.join('\n'));
  for (const w of i.Warnings ?? []) ctx.err(`${w}\n`);
  return 0;
}

export async function df(ctx: Context, flags: { verbose?: boolean; format?: string }): Promise<number> {
  const client = await ctx.client();
  const d = await client.df();
  const imgs = d.Images ?? [];
  const ctrs = d.Containers ?? [];
  const vols = d.Volumes ?? [];
  const activeImages = imgs.filter((i) => i.Containers > 0).length;
  const imgSize = imgs.reduce((a, i) => a + i.Size, 0);
  const imgReclaim = imgs.filter((i) => i.Containers <= 0).reduce((a, i) => a + i.Size - Math.max(0, i.SharedSize), 0);
  const ctrSize = ctrs.reduce((a, c) => a + (c.SizeRw ?? 0), 0);
  const ctrReclaim = ctrs.filter((c) => c.State !== 'running').reduce((a, c) => a + (c.SizeRw ?? 0), 0);
  const volSize = vols.reduce((a, v) => a + Math.max(0, v.UsageData?.Size ?? 0), 0);
  const volReclaim = vols.filter((v) => (v.UsageData?.RefCount ?? 0) === 0).reduce((a, v) => a + Math.max(0, v.UsageData?.Size ?? 0), 0);
  const pct = (r: number, t: number): string => (t > 0 ? ` (${Math.trunc((r * 100) / t)}%)` : '');
  const rows = [
    { Type: 'Images', TotalCount: String(imgs.length), Active: String(activeImages), Size: humanSize(imgSize), Reclaimable: `${humanSize(imgReclaim)}${pct(imgReclaim, imgSize)}` },
    { Type: 'Containers', TotalCount: String(ctrs.length), Active: String(ctrs.filter((c) => c.State === 'running').length), Size: humanSize(ctrSize), Reclaimable: `${humanSize(ctrReclaim)}${pct(ctrReclaim, ctrSize)}` },
    { Type: 'Local Volumes', TotalCount: String(vols.length), Active: String(vols.filter((v) => (v.UsageData?.RefCount ?? 0) > 0).length), Size: humanSize(volSize), Reclaimable: `${humanSize(volReclaim)}${pct(volReclaim, volSize)}` },
    { Type: 'Build Cache', TotalCount: '0', Active: '0', Size: '0B', Reclaimable: '0B' },
  ];
  const { renderRows } = await import('../format/render.js');
  ctx.out(
    renderRows(rows, {
      format: flags.format,
      defaultFormat: 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}',
      headers: { Type: 'TYPE', TotalCount: 'TOTAL', Active: 'ACTIVE', Size: 'SIZE', Reclaimable: 'RECLAIMABLE' },
    }),
  );
  return 0;
}

export async function systemPrune(ctx: Context, flags: { all?: boolean; volumes?: boolean; force?: boolean; filter: string[] }): Promise<number> {
  const client = await ctx.client();
  const filters = parseFilters(flags.filter);
  let space = 0;
  const c = await client.containerPrune(filters);
  if ((c.ContainersDeleted ?? []).length > 0) ctx.out(`Deleted Containers:\n${(c.ContainersDeleted ?? []).join('\n')}\n\n`);
  space += c.SpaceReclaimed ?? 0;
  const n = await client.networkPrune(filters);
  if ((n.NetworksDeleted ?? []).length > 0) ctx.out(`Deleted Networks:\n${(n.NetworksDeleted ?? []).join('\n')}\n\n`);
  if (flags.volumes) {
    const v = await client.volumePrune(filters);
    if ((v.VolumesDeleted ?? []).length > 0) ctx.out(`Deleted Volumes:\n${(v.VolumesDeleted ?? []).join('\n')}\n\n`);
    space += v.SpaceReclaimed ?? 0;
  }
  const imgFilters = { ...filters, ...(flags.all ? { dangling: ['false'] } : {}) };
  const i = await client.imagePrune(imgFilters);
  const deleted = i.ImagesDeleted ?? [];
  if (deleted.length > 0) {
    ctx.out('Deleted Images:\n');
    for (const d of deleted) ctx.out(d.Untagged ? `untagged: ${d.Untagged}\n` : `deleted: ${d.Deleted}\n`);
    ctx.out('\n');
  }
  space += i.SpaceReclaimed ?? 0;
  ctx.out(`Total reclaimed space: ${humanSize(space)}\n`);
  return 0;
}

export async function events(ctx: Context, flags: { since?: string; until?: string; filter: string[]; format?: string }): Promise<number> {
  const client = await ctx.client();
  const tmpl = flags.format ? Template.parse(flags.format === 'json' ? '{{json .}}' : flags.format) : undefined;
  // Read the stream ourselves: timeNano does not fit a JS number, so its digits are kept
  // from the raw line (EngineClient.events parses them into a rounded number).
  const res = await client.send('GET', '/events', {
    query: {
      ...(flags.since ? { since: parseTimestamp(flags.since) } : {}),
      ...(flags.until ? { until: parseTimestamp(flags.until) } : {}),
      filters: parseFilters(flags.filter),
    },
  });
  for await (const [e, nanos] of eventLines(res)) {
    if (tmpl) {
      ctx.out(`${tmpl.execute(e)}\n`);
      continue;
    }
    ctx.out(`${rfc3339NanoFixed(nanos)} `);
    const attrs = Object.keys(e.Actor.Attributes ?? {})
      .sort()
      .map((k) => `${k}=${e.Actor.Attributes[k]}`)
      .join(', ');
    ctx.out(`${e.Type} ${e.Action} ${e.Actor.ID}${attrs ? ` (${attrs})` : ''}\n`);
  }
  return 0;
}

/** Each event with its exact timeNano. */
async function* eventLines(res: AsyncIterable<Buffer | string>): AsyncGenerator<[EventMessage, bigint]> {
  let buf = '';
  for await (const chunk of res) {
    buf += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line === '') continue;
      const e = JSON.parse(line) as EventMessage;
      const m = /"timeNano"\s*:\s*(\d+)/.exec(line);
      yield [e, m ? BigInt(m[1] as string) : BigInt(e.time) * 1_000_000_000n];
    }
  }
}

/** Go's `2006-01-02T15:04:05.000000000Z07:00` in local time, from nanoseconds. */
function rfc3339NanoFixed(nanos: bigint): string {
  const ms = Number(nanos / 1_000_000n);
  const frac = String(nanos % 1_000_000_000n).padStart(9, '0');
  const d = new Date(ms);
  const off = -d.getTimezoneOffset();
  const local = new Date(ms + off * 60_000);
  const zone = off === 0 ? 'Z' : `${off > 0 ? '+' : '-'}${String(Math.trunc(Math.abs(off) / 60)).padStart(2, '0')}:${String(Math.abs(off) % 60).padStart(2, '0')}`;
  return `${local.toISOString().slice(0, 19)}.${frac}${zone}`;
}

export async function login(ctx: Context, server: string | undefined, flags: { username?: string; password?: string; passwordStdin?: boolean }): Promise<number> {
  let password = flags.password;
  if (flags.passwordStdin) {
    if (flags.password) throw new InvalidArgumentError('--password and --password-stdin are mutually exclusive');
    if (!flags.username) throw new InvalidArgumentError('Must provide --username with --password-stdin');
    const chunks: Buffer[] = [];
    for await (const c of ctx.io.stdin as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
    password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  } else if (password !== undefined) {
    ctx.err('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
  }
  if (!flags.username || password === undefined) throw new InvalidArgumentError('Error: Cannot perform an interactive login from a non TTY device');
  const client = await ctx.client();
  const key = serverKey(server);
  const res = await client.auth({ username: flags.username, password, serveraddress: key });
  await storeAuth(key, flags.username, password, res.IdentityToken || undefined);
  ctx.out(`${res.Status || 'Login Succeeded'}\n`);
  return 0;
}

export async function logout(ctx: Context, server: string | undefined): Promise<number> {
  const key = serverKey(server);
  const removed = await removeAuth(key);
  ctx.out(removed ? `Removing login credentials for ${key === 'https://index.docker.io/v1/' ? 'https://index.docker.io/v1/' : key}\n` : `Not logged in to ${key}\n`);
  return 0;
}

type Kind = 'container' | 'image' | 'volume' | 'network';

/** `berth inspect`: containers first, then images, volumes, networks (docker's order). */
export async function inspect(ctx: Context, names: string[], flags: { format?: string; type?: string; size?: boolean }): Promise<number> {
  const client = await ctx.client();
  const kinds: Kind[] = flags.type ? [flags.type as Kind] : ['container', 'image', 'volume', 'network'];
  if (flags.type && !['container', 'image', 'volume', 'network'].includes(flags.type)) throw new InvalidArgumentError(`"${flags.type}" is not a valid value for --type`);
  const found: unknown[] = [];
  let failed = false;
  for (const name of names) {
    const obj = await inspectOne(client, name, kinds, Boolean(flags.size));
    if (obj === undefined) {
      failed = true;
      ctx.err(`Error: No such ${flags.type ? flags.type : 'object'}: ${name}\n`);
      continue;
    }
    found.push(obj);
  }
  if (flags.format) ctx.out(renderEach(found, flags.format));
  else ctx.out(indentJson(found));
  return failed ? 1 : 0;
}

/** Inspects one name as the first kind that knows it; undefined when none does. */
async function inspectOne(client: EngineClient, name: string, kinds: Kind[], size = false): Promise<unknown> {
  for (const kind of kinds) {
    try {
      switch (kind) {
        case 'container':
          return await client.containerInspect(name, { size });
        case 'image':
          return await client.imageInspect(name);
        case 'volume':
          return await client.volumeInspect(name);
        case 'network':
          return await client.networkInspect(name);
      }
    } catch (err) {
      if (!(isDaemonError(err) && err.statusCode === 404) && !(err instanceof NotFoundError)) throw err;
    }
  }
  return undefined;
}
