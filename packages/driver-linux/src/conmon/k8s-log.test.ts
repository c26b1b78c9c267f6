import { appendFile, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LogEntry } from '@berth/runtime';
import { readK8sLog } from './k8s-log.js';
import { parseK8sRecord } from './k8s-record.js';
import { tailStart } from './k8s-tail.js';
import { logFiles } from './log-files.js';

const T = '2026-11-27T04:04:42.894804476+00:00';
const rec = (stream: string, tag: string, content: string | Buffer, time = T): Buffer =>
  Buffer.concat([Buffer.from(`${time} ${stream} ${tag} `), Buffer.from(content), Buffer.from('\n')]);

async function collect(it: AsyncIterable<LogEntry>): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for await (const e of it) out.push(e);
  return out;
}
const show = (es: LogEntry[]): string[] => es.map((e) => `${e.stream}:${e.data.toString()}`);

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-k8slog-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('parseK8sRecord', () => {
  it('parses full and partial records, keeping the content as bytes', () => {
    expect(parseK8sRecord(Buffer.from(`${T} stdout F hello world`))).toEqual({ time: T, stream: 'stdout', partial: false, content: Buffer.from('hello world') });
    expect(parseK8sRecord(Buffer.from(`${T} stderr P part`))).toMatchObject({ stream: 'stderr', partial: true, content: Buffer.from('part') });
    expect(parseK8sRecord(Buffer.from(`${T} stdout F `))?.content.length).toBe(0);
    expect(parseK8sRecord(Buffer.from('garbage'))).toBeUndefined();
    const binary = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28, 0x20]);
    expect(parseK8sRecord(rec('stdout', 'P', binary).subarray(0, -1))?.content).toEqual(binary);
  });
});

describe('readK8sLog', () => {
  it('joins the pieces of a line, whatever other flags share the tag, and keeps bytes that are not UTF-8', async () => {
    const path = join(dir, 'ctr.log');
    const bin = Buffer.from([0xff, 0x00, 0xfe]);
    await writeFile(path, Buffer.concat([rec('stdout', 'P', 'hel'), rec('stdout', 'P:x', 'lo'), rec('stdout', 'F', ' world'), rec('stderr', 'F', 'oops'), rec('stdout', 'F', bin)]));
    const es = await collect(readK8sLog([path]));
    expect(show(es).slice(0, 2)).toEqual(['stdout:hello world\n', 'stderr:oops\n']);
    expect(es[2]!.data).toEqual(Buffer.concat([bin, Buffer.from('\n')]));
  });

  it('gives a last line without its newline as it is', async () => {
    const path = join(dir, 'ctr.log');
    await writeFile(path, Buffer.concat([rec('stdout', 'F', 'one'), rec('stdout', 'P', 'abc')]));
    expect(show(await collect(readK8sLog([path])))).toEqual(['stdout:one\n', 'stdout:abc']);
  });

  it('ends a partial line where the other stream writes, so nothing is reordered', async () => {
    const path = join(dir, 'ctr.log');
    await writeFile(path, Buffer.concat([rec('stdout', 'P', 'a'), rec('stderr', 'F', 'e'), rec('stdout', 'F', 'b')]));
    expect(show(await collect(readK8sLog([path])))).toEqual(['stdout:a', 'stderr:e\n', 'stdout:b\n']);
  });

  it('reads rotated files oldest first and filters by since/until', async () => {
    const path = join(dir, 'ctr.log');
    await writeFile(`${path}.2`, rec('stdout', 'F', 'a', '2026-01-01T00:00:01.000000000+00:00'));
    await writeFile(`${path}.1`, rec('stdout', 'F', 'b', '2026-01-01T00:00:02.000000000+00:00'));
    await writeFile(path, Buffer.concat([rec('stdout', 'F', 'c', '2026-01-01T00:00:03.000000000+00:00'), rec('stdout', 'F', 'd', '2026-01-01T00:00:04.000000000+00:00')]));
    const files = await logFiles(path);
    expect(files).toEqual([`${path}.2`, `${path}.1`, path]);
    expect(show(await collect(readK8sLog(files)))).toEqual(['stdout:a\n', 'stdout:b\n', 'stdout:c\n', 'stdout:d\n']);
    const s = Date.parse('2026-01-01T00:00:02Z') / 1000;
    expect(show(await collect(readK8sLog(files, { since: s, until: s + 1 })))).toEqual(['stdout:b\n', 'stdout:c\n']);
  });

  it('ends a follow as soon as `wake` settles, not a poll interval later', async () => {
    const path = join(dir, 'ctr.log');
    await writeFile(path, rec('stdout', 'F', 'hello'));
    let running = true;
    let exit!: () => void;
    const wake = new Promise<void>((r) => (exit = r));
    const started = Date.now();
    setTimeout(() => {
      running = false;
      exit();
    }, 30);
    // a 10 s poll interval: only the wake-up can end this promptly
    const es = await collect(readK8sLog([path], { follow: { keepGoing: async () => running, pollMs: 10_000, wake } }));
    expect(show(es)).toEqual(['stdout:hello\n']);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('follows the live log through a rotation (renamed away, created again)', async () => {
    const path = join(dir, 'ctr.log');
    await writeFile(path, rec('stdout', 'F', 'one'));
    let running = true;
    const reading = collect(readK8sLog([path], { follow: { keepGoing: async () => running, pollMs: 10 } }));
    await new Promise((r) => setTimeout(r, 50));
    await appendFile(path, rec('stdout', 'F', 'two'));
    await rename(path, `${path}.1`);
    // the writer still writes to the renamed file until it reopens
    await appendFile(`${path}.1`, rec('stdout', 'F', 'three'));
    await new Promise((r) => setTimeout(r, 50));
    await writeFile(path, rec('stdout', 'F', 'four'));
    await new Promise((r) => setTimeout(r, 50));
    await appendFile(path, rec('stdout', 'P', 'five'));
    await new Promise((r) => setTimeout(r, 50));
    running = false;
    expect(show(await reading)).toEqual(['stdout:one\n', 'stdout:two\n', 'stdout:three\n', 'stdout:four\n', 'stdout:five']);
  });
});

describe('tailStart', () => {
  it('finds the last n lines from the end, across rotated files, as a forward read counts them', async () => {
    const path = join(dir, 'ctr.log');
    const records: Buffer[] = [];
    for (let i = 0; i < 3000; i++) {
      const stream = i % 7 === 0 ? 'stderr' : 'stdout';
      // long lines in pieces, lines of the other stream between, a trailing partial
      records.push(i % 5 === 0 ? rec(stream, 'P', `part${i}-`) : rec(stream, 'F', `line ${i} ${'x'.repeat(i % 50)}`));
    }
    records.push(rec('stdout', 'P', 'tail-without-newline'));
    await writeFile(`${path}.1`, Buffer.concat(records.slice(0, 1200)));
    await writeFile(path, Buffer.concat(records.slice(1200)));
    const files = await logFiles(path);
    const all = show(await collect(readK8sLog(files)));
    for (const n of [0, 1, 2, 5, 100, 1500, 2900, 5000]) {
      const start = await tailStart(files, n);
      expect(show(await collect(readK8sLog(files, { start }))), `tail ${n}`).toEqual(n === 0 ? [] : all.slice(-n));
    }
  });

  it('leaves out a record still being written at the end', async () => {
    const path = join(dir, 'ctr.log');
    await writeFile(path, Buffer.concat([rec('stdout', 'F', 'a'), rec('stdout', 'F', 'b'), Buffer.from(`${T} stdout F unfinish`)]));
    const start = await tailStart([path], 1);
    expect(show(await collect(readK8sLog([path], { start })))).toEqual(['stdout:b\n']);
  });
});
