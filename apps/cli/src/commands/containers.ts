// Container commands: run, create, start, stop, kill, restart, rm, ps, logs, exec,
// attach, wait, export, commit, rename, pause, unpause, top, port, stats.
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DEFAULT_DETACH_KEYS, demultiplexStream, parseDetachKeys, type ContainerCreateBody, type ContainerStats, type EngineClient, type WaitCondition } from '@berth/engine-api';
import { InvalidArgumentError, normalizeReference } from '@berth/image-format';
import { Context, StatusError, errorMessage, isDaemonError, runStatusFor } from '../context.js';
import { truncateId } from '../format/contexts.js';
import { renderRows } from '../format/render.js';
import { tabwrite } from '../format/tabwriter.js';
import { bytesSize, humanSize, parseTimestamp } from '../format/units.js';
import { buildCreateBody, sigProxyOn, type RunFlags } from './run-options.js';
import { initialSize, wireAttach } from './attach-io.js';
import { pullImage } from './images.js';
import { psListOptions, psOutput, type PsFlags } from './ps-view.js';

function consoleSize(ctx: Context): [number, number] | undefined {
  const s = initialSize(ctx.io);
  return s ? [s.h, s.w] : undefined;
}

/** Creates the container, pulling the image first when the daemon does not have it. */
async function createContainer(ctx: Context, client: EngineClient, body: ContainerCreateBody, flags: RunFlags): Promise<string> {
  const image = body.Image as string;
  const create = async (): Promise<string> => {
    const res = await client.containerCreate(body, { ...(flags.name ? { name: flags.name } : {}), ...(flags.platform ? { platform: flags.platform } : {}) });
    for (const w of res.Warnings ?? []) ctx.err(`WARNING: ${w}\n`);
    return res.Id;
  };
  if (flags.pull === 'always') await pullImage(ctx, client, image, { out: 'stderr', platform: flags.platform });
  try {
    return await create();
  } catch (err) {
    if (!(isDaemonError(err) && err.statusCode === 404 && /no such image/i.test(err.message)) || flags.pull === 'never') throw err;
    let familiar = image;
    try {
      familiar = normalizeReference(image).familiar();
    } catch {
      // the daemon will say what is wrong with the name
    }
    ctx.err(`Unable to find image '${familiar}' locally\n`);
    // With no registry reachable, berthd answers a pull of busybox with its built-in image.
    await pullImage(ctx, client, image, { out: 'stderr', platform: flags.platform });
    return create();
  }
}

/** `berth create`: prints the new container's full ID. */
export async function create(ctx: Context, image: string, command: string[], flags: RunFlags): Promise<number> {
  let body: ContainerCreateBody;
  try {
    body = buildCreateBody(flags, image, command, process.env, flags.tty ? consoleSize(ctx) : undefined);
  } catch (err) {
    throw new StatusError(125, errorMessage(err), { cause: err });
  }
  const client = await ctx.client();
  try {
    const id = await createContainer(ctx, client, body, flags);
    ctx.out(`${id}\n`);
    return 0;
  } catch (err) {
    throw new StatusError(125, errorMessage(err), { cause: err });
  }
}

/** `berth run`: docker's flow (create, wait registered, attach, start, stream, exit code). */
export async function run(ctx: Context, image: string, command: string[], flags: RunFlags): Promise<number> {
  if (flags.tty && flags.interactive && !(ctx.io.stdin as NodeJS.ReadStream).isTTY && !flags.detach) {
    throw new StatusError(1, 'the input device is not a TTY');
  }
  const client = await ctx.client();
  let body: ContainerCreateBody;
  let detachKeys: number[];
  try {
    detachKeys = parseDetachKeys(flags.detachKeys ?? DEFAULT_DETACH_KEYS);
    sigProxyOn(flags);
    body = buildCreateBody(flags, image, command, process.env, flags.tty ? consoleSize(ctx) : undefined);
  } catch (err) {
    throw new StatusError(125, errorMessage(err), { cause: err });
  }
  let id: string;
  try {
    id = await createContainer(ctx, client, body, flags);
  } catch (err) {
    throw new StatusError(125, errorMessage(err), { cause: err });
  }
  if (flags.detach) {
    try {
      await client.containerStart(id);
    } catch (err) {
      throw new StatusError(runStatusFor(err), errorMessage(err), { cause: err });
    }
    ctx.out(`${id}\n`);
    return 0;
  }

  // The wait and the attach must both be registered (wait's headers and attach's 101 back)
  // before start, so a container that exits at once is not missed; with --rm wait for its
  // removal. They go out together: one round trip, not two.
  const condition: WaitCondition = flags.rm ? 'removed' : 'next-exit';
  let waitRegistered!: () => void;
  const registered = new Promise<void>((r) => (waitRegistered = r));
  const waited = client.containerWait(id, { condition, onHeaders: () => waitRegistered() });
  waited.catch(() => waitRegistered());

  const tty = Boolean(flags.tty);
  const attaching = client.containerAttach(id, { stream: true, stdin: body.AttachStdin === true, stdout: body.AttachStdout === true, stderr: body.AttachStderr === true });
  attaching.catch(() => {}); // handled below, after the wait is registered
  await Promise.race([registered, waited.then(() => undefined, () => undefined)]);
  let hijacked: Awaited<ReturnType<EngineClient['containerAttach']>>;
  try {
    hijacked = await attaching;
  } catch (err) {
    throw new StatusError(125, errorMessage(err), { cause: err });
  }
  const io = wireAttach(hijacked, ctx.io, {
    tty,
    stdin: body.AttachStdin === true,
    resize: (size) => void client.containerResize(id, size).catch(() => {}),
    detachKeys,
  });
  try {
    await client.containerStart(id);
  } catch (err) {
    io.restore();
    if (flags.rm) await client.containerRemove(id, { force: true }).catch(() => {});
    throw new StatusError(runStatusFor(err), errorMessage(err), { cause: err });
  }
  if (tty) {
    const size = initialSize(ctx.io);
    if (size) await client.containerResize(id, size).catch(() => {});
  }
  // docker's --sig-proxy: without a TTY, signals to berth go to the container.
  const proxy = (signal: NodeJS.Signals): void => void client.containerKill(id, { signal }).catch(() => {});
  const signals: NodeJS.Signals[] = tty || !sigProxyOn(flags) ? [] : ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'];
  for (const sig of signals) process.on(sig, proxy);
  try {
    await io.output;
  } catch {
    // a broken connection: the wait below still tells the exit code
  }
  if (io.detached()) {
    // the container runs on (with --rm it is removed when it exits), as with docker
    for (const sig of signals) process.removeListener(sig, proxy);
    io.restore();
    return 0;
  }
  let status: number;
  try {
    const res = await waited.finally(() => {
      for (const sig of signals) process.removeListener(sig, proxy);
    });
    if (res.Error?.Message) ctx.err(`${res.Error.Message}\n`);
    status = res.StatusCode;
  } catch (err) {
    io.restore();
    throw new StatusError(125, errorMessage(err), { cause: err });
  }
  io.restore();
  return status;
}

/** `berth start [-a] [-i]`. */
export async function start(ctx: Context, containers: string[], flags: { attach?: boolean; interactive?: boolean; detachKeys?: string }): Promise<number> {
  const detachKeys = parseDetachKeys(flags.detachKeys ?? DEFAULT_DETACH_KEYS);
  const client = await ctx.client();
  if (flags.attach || flags.interactive) {
    if (containers.length > 1) throw new InvalidArgumentError('you cannot start and attach multiple containers at once');
    const id = containers[0] as string;
    const info = await client.containerInspect(id);
    const tty = Boolean(info.Config.Tty);
    const stdin = Boolean(flags.interactive && info.Config.OpenStdin);
    const waited = client.containerWait(info.Id, { condition: 'next-exit' });
    waited.catch(() => {}); // abandoned when the user detaches
    const hijacked = await client.containerAttach(info.Id, { stream: true, stdin, stdout: true, stderr: true });
    const io = wireAttach(hijacked, ctx.io, {
      tty,
      stdin,
      resize: (size) => void client.containerResize(info.Id, size).catch(() => {}),
      detachKeys,
    });
    try {
      await client.containerStart(info.Id);
    } catch (err) {
      io.restore();
      throw err;
    }
    await io.output.catch(() => {});
    if (io.detached()) {
      io.restore();
      return 0;
    }
    const res = await waited;
    io.restore();
    return res.StatusCode;
  }
  return eachContainer(ctx, containers, async (c) => {
    await client.containerStart(c);
    ctx.out(`${c}\n`);
  });
}

/** Runs `fn` for each name; errors are printed and make the exit code 1 (docker's habit). */
async function eachContainer(ctx: Context, names: string[], fn: (name: string) => Promise<void>): Promise<number> {
  let failed = false;
  for (const name of names) {
    try {
      await fn(name);
    } catch (err) {
      failed = true;
      ctx.err(`${errorMessage(err)}\n`);
    }
  }
  return failed ? 1 : 0;
}

export async function stop(ctx: Context, names: string[], flags: { time?: string; signal?: string }): Promise<number> {
  const client = await ctx.client();
  return eachContainer(ctx, names, async (c) => {
    await client.containerStop(c, { ...(flags.time !== undefined ? { t: Number(flags.time) } : {}), ...(flags.signal ? { signal: flags.signal } : {}) });
    ctx.out(`${c}\n`);
  });
}

export async function restart(ctx: Context, names: string[], flags: { time?: string; signal?: string }): Promise<number> {
  const client = await ctx.client();
  return eachContainer(ctx, names, async (c) => {
    await client.containerRestart(c, { ...(flags.time !== undefined ? { t: Number(flags.time) } : {}), ...(flags.signal ? { signal: flags.signal } : {}) });
    ctx.out(`${c}\n`);
  });
}

export async function kill(ctx: Context, names: string[], flags: { signal?: string }): Promise<number> {
  const client = await ctx.client();
  return eachContainer(ctx, names, async (c) => {
    await client.containerKill(c, flags.signal ? { signal: flags.signal } : {});
    ctx.out(`${c}\n`);
  });
}

export async function rm(ctx: Context, names: string[], flags: { force?: boolean; volumes?: boolean }): Promise<number> {
  const client = await ctx.client();
  return eachContainer(ctx, names, async (c) => {
    await client.containerRemove(c, { force: Boolean(flags.force), v: Boolean(flags.volumes) });
    ctx.out(`${c}\n`);
  });
}

export async function simple(ctx: Context, names: string[], op: 'pause' | 'unpause'): Promise<number> {
  const client = await ctx.client();
  return eachContainer(ctx, names, async (c) => {
    await (op === 'pause' ? client.containerPause(c) : client.containerUnpause(c));
    ctx.out(`${c}\n`);
  });
}

export async function rename(ctx: Context, from: string, to: string): Promise<number> {
  await (await ctx.client()).containerRename(from, to);
  return 0;
}

export async function wait(ctx: Context, names: string[]): Promise<number> {
  const client = await ctx.client();
  return eachContainer(ctx, names, async (c) => {
    const res = await client.containerWait(c);
    ctx.out(`${res.StatusCode}\n`);
  });
}

export async function ps(ctx: Context, flags: PsFlags): Promise<number> {
  const client = await ctx.client();
  ctx.out(psOutput(await client.containerList(psListOptions(flags)), flags));
  return 0;
}

export async function logs(ctx: Context, name: string, flags: { follow?: boolean; tail?: string; since?: string; until?: string; timestamps?: boolean }): Promise<number> {
  const client = await ctx.client();
  const info = await client.containerInspect(name);
  const res = await client.containerLogs(info.Id, {
    follow: Boolean(flags.follow),
    timestamps: Boolean(flags.timestamps),
    ...(flags.tail !== undefined ? { tail: flags.tail === 'all' ? 'all' : Number(flags.tail) } : {}),
    ...(flags.since !== undefined ? { since: parseTimestamp(flags.since) } : {}),
    ...(flags.until !== undefined ? { until: parseTimestamp(flags.until) } : {}),
  });
  const contentType = String(res.headers['content-type'] ?? '');
  if (info.Config.Tty || contentType.includes('raw-stream')) {
    for await (const chunk of res) ctx.out(chunk as string);
  } else {
    await demultiplexStream(res, ctx.io.stdout as unknown as Writable, ctx.io.stderr as unknown as Writable);
  }
  return 0;
}

export async function exec(
  ctx: Context,
  name: string,
  command: string[],
  flags: { interactive?: boolean; tty?: boolean; user?: string; workdir?: string; env: string[]; detach?: boolean; privileged?: boolean; detachKeys?: string },
): Promise<number> {
  const detachKeys = parseDetachKeys(flags.detachKeys ?? DEFAULT_DETACH_KEYS);
  const client = await ctx.client();
  const size = flags.tty ? consoleSize(ctx) : undefined;
  const created = await client.execCreate(name, {
    AttachStdin: Boolean(flags.interactive) && !flags.detach,
    AttachStdout: !flags.detach,
    AttachStderr: !flags.detach,
    Tty: Boolean(flags.tty),
    Cmd: command,
    Env: flags.env,
    ...(flags.user ? { User: flags.user } : {}),
    ...(flags.workdir ? { WorkingDir: flags.workdir } : {}),
    ...(flags.privileged ? { Privileged: true } : {}),
    ...(size ? { ConsoleSize: size } : {}),
  });
  if (flags.detach) {
    await client.execStart(created.Id, { Detach: true, Tty: Boolean(flags.tty) });
    return 0;
  }
  const hijacked = await client.execStart(created.Id, { Tty: Boolean(flags.tty), ...(size ? { ConsoleSize: size } : {}) });
  if (!hijacked) return 0;
  const io = wireAttach(hijacked, ctx.io, {
    tty: Boolean(flags.tty),
    stdin: Boolean(flags.interactive),
    resize: (s) => void client.execResize(created.Id, s).catch(() => {}),
    detachKeys,
  });
  if (flags.tty) {
    const s = initialSize(ctx.io);
    if (s) await client.execResize(created.Id, s).catch(() => {});
  }
  await io.output.catch(() => {});
  io.restore();
  if (io.detached()) return 0;
  // The exit code is recorded a moment after the output ends.
  for (let i = 0; i < 50; i++) {
    const info = await client.execInspect(created.Id);
    if (!info.Running && info.ExitCode !== null) return info.ExitCode;
    await new Promise((r) => setTimeout(r, 20));
  }
  return 0;
}

export async function attach(ctx: Context, name: string, flags: { stdin?: boolean; detachKeys?: string }): Promise<number> {
  const detachKeys = parseDetachKeys(flags.detachKeys ?? DEFAULT_DETACH_KEYS);
  const client = await ctx.client();
  const info = await client.containerInspect(name);
  if (!info.State.Running) throw new InvalidArgumentError('You cannot attach to a stopped container, start it first');
  const stdin = flags.stdin !== false && Boolean(info.Config.OpenStdin);
  const waited = client.containerWait(info.Id, { condition: 'not-running' });
  waited.catch(() => {}); // abandoned when the user detaches
  const hijacked = await client.containerAttach(info.Id, { stream: true, stdin, stdout: true, stderr: true });
  const io = wireAttach(hijacked, ctx.io, {
    tty: Boolean(info.Config.Tty),
    stdin,
    resize: (s) => void client.containerResize(info.Id, s).catch(() => {}),
    detachKeys,
  });
  await io.output.catch(() => {});
  if (io.detached()) {
    io.restore();
    return 0;
  }
  const res = await waited;
  io.restore();
  return res.StatusCode;
}

export async function exportContainer(ctx: Context, name: string, flags: { output?: string }): Promise<number> {
  const client = await ctx.client();
  if (!flags.output && (ctx.io.stdout as NodeJS.WriteStream).isTTY) {
    throw new InvalidArgumentError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
  }
  const tar = await client.containerExport(name);
  await pipeTo(tar, flags.output ? createWriteStream(flags.output) : (ctx.io.stdout as unknown as Writable), Boolean(flags.output));
  return 0;
}

/**
 * Copies a stream to a file (closed at the end) or to stdout (left open). A failure on
 * either side (the daemon hanging up, a full disk, a closed pipe) rejects and ends both.
 */
export async function pipeTo(src: NodeJS.ReadableStream, dest: Writable, close: boolean): Promise<void> {
  await pipeline(src, dest, { end: close });
}

export async function commit(
  ctx: Context,
  container: string,
  repository: string | undefined,
  flags: { message?: string; author?: string; change: string[]; pause?: boolean },
): Promise<number> {
  const client = await ctx.client();
  let repo: string | undefined;
  let tag: string | undefined;
  if (repository) {
    const r = normalizeReference(repository);
    repo = r.familiarName();
    tag = r.tag;
  }
  const res = await client.commit(container, {
    ...(repo ? { repo } : {}),
    ...(tag ? { tag } : {}),
    ...(flags.message ? { comment: flags.message } : {}),
    ...(flags.author ? { author: flags.author } : {}),
    pause: flags.pause !== false,
    changes: flags.change,
  });
  ctx.out(`${res.Id}\n`);
  return 0;
}

export async function top(ctx: Context, name: string, psArgs: string[]): Promise<number> {
  const res = await (await ctx.client()).containerTop(name, psArgs.length > 0 ? psArgs.join(' ') : undefined);
  const lines = [res.Titles.join('\t'), ...res.Processes.map((p) => p.join('\t'))];
  ctx.out(tabwrite(`${lines.join('\n')}\n`, { minWidth: 20, padding: 3 }));
  return 0;
}

export async function port(ctx: Context, name: string, privatePort: string | undefined): Promise<number> {
  const info = await (await ctx.client()).containerInspect(name);
  const ports = info.NetworkSettings.Ports ?? {};
  const want = privatePort ? (privatePort.includes('/') ? privatePort : `${privatePort}/tcp`) : undefined;
  for (const key of Object.keys(ports).sort()) {
    if (want && key !== want) continue;
    for (const b of ports[key] ?? []) {
      const ip = b.HostIp ?? '0.0.0.0';
      const hostPort = `${ip.includes(':') ? `[${ip}]` : ip}:${b.HostPort}`;
      ctx.out(want ? `${hostPort}\n` : `${key} -> ${hostPort}\n`);
    }
  }
  return 0;
}

// ---- stats -------------------------------------------------------------------

const STATS_DEFAULT = 'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}';
const STATS_HEADERS: Record<string, string> = {
  Container: 'CONTAINER',
  ID: 'CONTAINER ID',
  Name: 'NAME',
  CPUPerc: 'CPU %',
  MemUsage: 'MEM USAGE / LIMIT',
  MemPerc: 'MEM %',
  NetIO: 'NET I/O',
  BlockIO: 'BLOCK I/O',
  PIDs: 'PIDS',
};

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/** One `docker stats` row from a stats sample (CPU from the sample's own precpu part). */
function statsFields(s: ContainerStats, name: string, id: string, trunc: boolean): Record<string, unknown> {
  const cpu = (s.cpu_stats ?? {}) as { cpu_usage?: { total_usage?: number; percpu_usage?: number[] }; system_cpu_usage?: number; online_cpus?: number };
  const pre = (s.precpu_stats ?? {}) as typeof cpu;
  const cpuDelta = num(cpu.cpu_usage?.total_usage) - num(pre.cpu_usage?.total_usage);
  const sysDelta = num(cpu.system_cpu_usage) - num(pre.system_cpu_usage);
  const online = num(cpu.online_cpus) || cpu.cpu_usage?.percpu_usage?.length || 1;
  const cpuPerc = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * online * 100 : 0;
  const mem = s.memory_stats ?? {};
  const cache = num(mem.stats?.['inactive_file'] ?? mem.stats?.['total_inactive_file']);
  const usage = Math.max(0, num(mem.usage) - cache);
  const limit = num(mem.limit);
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    rx += num(n['rx_bytes']);
    tx += num(n['tx_bytes']);
  }
  let read = 0;
  let write = 0;
  const blkio = (s['blkio_stats'] as { io_service_bytes_recursive?: { op: string; value: number }[] | null } | undefined)?.io_service_bytes_recursive ?? [];
  for (const e of blkio) {
    if (/^read$/i.test(e.op)) read += e.value;
    if (/^write$/i.test(e.op)) write += e.value;
  }
  return {
    Container: trunc ? truncateId(id) : id,
    ID: trunc ? truncateId(id) : id,
    Name: name.replace(/^\//, ''),
    CPUPerc: `${cpuPerc.toFixed(2)}%`,
    MemUsage: `${bytesSize(usage)} / ${bytesSize(limit)}`,
    MemPerc: `${(limit > 0 ? (usage / limit) * 100 : 0).toFixed(2)}%`,
    NetIO: `${humanSize(rx, 3)} / ${humanSize(tx, 3)}`,
    BlockIO: `${humanSize(read, 3)} / ${humanSize(write, 3)}`,
    PIDs: String(num(s.pids_stats?.current)),
  };
}

export async function stats(ctx: Context, names: string[], flags: { noStream?: boolean; all?: boolean; format?: string; trunc?: boolean }): Promise<number> {
  const client = await ctx.client();
  const trunc = flags.trunc !== false;
  const ids =
    names.length > 0 ? names : (await client.containerList({ all: Boolean(flags.all) })).map((c) => c.Id);
  const sample = async (): Promise<Record<string, unknown>[]> =>
    Promise.all(
      ids.map(async (n) => {
        const s = await client.containerStats(n);
        return statsFields(s, s.name ?? n, s.id ?? n, trunc);
      }),
    );
  if (flags.noStream) {
    ctx.out(renderRows(await sample(), { format: flags.format, defaultFormat: STATS_DEFAULT, headers: STATS_HEADERS }));
    return 0;
  }
  // Streaming: redraw the table every second until interrupted (bounded by the user's ^C).
  for (;;) {
    const text = renderRows(await sample(), { format: flags.format, defaultFormat: STATS_DEFAULT, headers: STATS_HEADERS });
    ctx.out(ctx.stdoutIsTTY ? `\x1b[2J\x1b[H${text}` : text);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

