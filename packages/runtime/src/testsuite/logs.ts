import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { ContainerSpec, ProcessSpec } from '../spec.js';
import type { LogEntry, LogOptions, RuntimeDriver } from '../driver.js';

export interface LogCaseContext {
  driver(): RuntimeDriver;
  spec(tag: string, process: ProcessSpec, extra?: Partial<ContainerSpec>): Promise<ContainerSpec>;
}

async function entries(driver: RuntimeDriver, id: string, options?: LogOptions): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for await (const e of driver.logs(id, options)) out.push(e);
  return out;
}

function bytes(es: LogEntry[], stream?: 'stdout' | 'stderr'): Buffer {
  return Buffer.concat(es.filter((e) => !stream || e.stream === stream).map((e) => e.data));
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function readBytes(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

// every byte value, newline and NUL included, most of them not UTF-8
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const PRINTF_ALL = Array.from({ length: 256 }, (_, i) => `\\${i.toString(8).padStart(3, '0')}`).join('');

/** The logs part of the contract: bytes as written, partial lines, tail, time windows, follow. */
export function logCases(ctx: LogCaseContext): void {
  async function run(tag: string, process: ProcessSpec, extra?: Partial<ContainerSpec>): Promise<string> {
    const s = await ctx.spec(tag, process, extra);
    await ctx.driver().create(s);
    await ctx.driver().start(s.id);
    await ctx.driver().wait(s.id);
    return s.id;
  }

  it('logs: gives back the bytes written, not UTF-8 text (a binary on stdout, every byte value on stderr)', async () => {
    const id = await run('log-bin', { args: ['sh', '-c', `cat /bin/busybox; printf '${PRINTF_ALL}' >&2; sha256sum /bin/busybox >&2`] });
    const es = await entries(ctx.driver(), id);
    const out = bytes(es, 'stdout');
    const err = bytes(es, 'stderr');
    expect(out.length).toBeGreaterThan(100_000);
    expect(err.subarray(0, 256)).toEqual(ALL_BYTES);
    expect(err.subarray(256).toString().split(' ')[0]).toBe(sha256(out));
  });

  it('logs: a last line without a newline comes back as written, from logs and from attach', async () => {
    const s = await ctx.spec('log-partial', { args: ['sh', '-c', 'sleep 0.3; printf "x\\nab"; sleep 0.2; printf c'] });
    await ctx.driver().create(s);
    const io = await ctx.driver().attach(s.id, { stdout: true, stderr: true });
    const attached = readBytes(io.stdout);
    await ctx.driver().start(s.id);
    await ctx.driver().wait(s.id);
    expect((await attached).toString()).toBe('x\nabc');
    io.close();
    expect(bytes(await entries(ctx.driver(), s.id)).toString()).toBe('x\nabc');
    const only = await run('log-abc', { args: ['printf', 'abc'] });
    expect(bytes(await entries(ctx.driver(), only)).toString()).toBe('abc');
  });

  it('logs: attach gives a running container\'s binary output unchanged', async () => {
    const s = await ctx.spec('log-attach-bin', { args: ['sh', '-c', `sleep 0.5; printf '${PRINTF_ALL}'; sleep 0.2; cat /bin/busybox`] });
    await ctx.driver().create(s);
    await ctx.driver().start(s.id);
    const io = await ctx.driver().attach(s.id, { stdout: true, stderr: true });
    const attached = readBytes(io.stdout);
    await ctx.driver().wait(s.id);
    const got = await attached;
    io.close();
    expect(got.subarray(0, 256)).toEqual(ALL_BYTES);
    // hashes: comparing megabytes byte by byte in expect() takes seconds
    expect(sha256(got)).toBe(sha256(bytes(await entries(ctx.driver(), s.id), 'stdout')));
    expect(got.length).toBeGreaterThan(100_000);
  });

  it('logs: tail gives the last n lines of both streams', async () => {
    // stdout and stderr are two pipes: the monitor may read `oops` before the last stdout
    // lines still in their pipe, so the script waits for those to be drained first
    const id = await run('log-tail', { args: ['sh', '-c', 'i=1; while [ $i -le 2000 ]; do echo line$i; i=$((i+1)); done; sleep 0.2; echo oops >&2; sleep 0.2; printf end'] });
    const text = async (tail: number): Promise<string> => bytes(await entries(ctx.driver(), id, { tail })).toString();
    expect(await text(3)).toBe('line2000\noops\nend');
    expect(await text(1)).toBe('end');
    expect(await text(0)).toBe('');
    expect((await text(5000)).split('\n')).toHaveLength(2002);
    expect(await entries(ctx.driver(), id, { tail: 2 })).toMatchObject([{ stream: 'stderr' }, { stream: 'stdout' }]);
  });

  it('logs: since and until pick entries by the time they were written', async () => {
    const id = await run('log-time', { args: ['sh', '-c', 'echo early; sleep 1.2; echo late'] });
    const all = await entries(ctx.driver(), id);
    expect(all.map((e) => e.data.toString())).toEqual(['early\n', 'late\n']);
    const lateAt = Date.parse(all[1]!.time) / 1000;
    expect(bytes(await entries(ctx.driver(), id, { since: lateAt - 0.1 })).toString()).toBe('late\n');
    expect(bytes(await entries(ctx.driver(), id, { until: lateAt - 0.1 })).toString()).toBe('early\n');
  });

  it('logs: follow gives output as it is written and ends when the container stops', async () => {
    const s = await ctx.spec('log-follow', { args: ['sh', '-c', 'echo one; sleep 1; printf two; sleep 0.3; echo " three"; sleep 0.3; printf four'] });
    await ctx.driver().create(s);
    await ctx.driver().start(s.id);
    const seen: { data: string; running: boolean }[] = [];
    for await (const e of ctx.driver().logs(s.id, { follow: true })) {
      seen.push({ data: e.data.toString(), running: (await ctx.driver().state(s.id)).status === 'running' });
    }
    expect(seen.map((e) => e.data).join('')).toBe('one\ntwo three\nfour');
    expect(seen[0]).toEqual({ data: 'one\n', running: true });
    // a follow that starts at the end of a long log
    const tailFollow = await entries(ctx.driver(), s.id, { follow: true, tail: 1 });
    expect(bytes(tailFollow).toString()).toBe('four');
  });

  it('logs: a log at a given logPath outlives its container and the next container on it continues it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-conf-log-'));
    try {
      const logPath = join(dir, 'ctr.log');
      const first = await run('log-keep-a', { args: ['echo', 'first run'] }, { logPath });
      await ctx.driver().delete(first);
      const second = await run('log-keep-b', { args: ['echo', 'second run'] }, { logPath });
      expect(bytes(await entries(ctx.driver(), second)).toString()).toBe('first run\nsecond run\n');
      await ctx.driver().delete(second);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}
