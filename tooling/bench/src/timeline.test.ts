import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { median, quantile } from './stats.js';
import { formatTimeline, parsePerfSched, parseRequestLog, parseStraceExecs } from './timeline.js';

const dir = await mkdtemp(join(tmpdir(), 'bench-timeline-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('parsePerfSched', () => {
  const perf = [
    '            node 100/100 [000] 10.000000: sched:sched_process_fork: comm=node pid=100 child_comm=node child_pid=200',
    '            crun 200/200 [000] 10.001000: sched:sched_process_exec: filename=/usr/bin/crun pid=200 old_pid=200',
    '               3 200/200 [001] 10.002000: sched:sched_process_exec: filename=/proc/self/fd/3 pid=200 old_pid=200',
    '               3 200/200 [001] 10.003000: sched:sched_process_fork: comm=3 pid=200 child_comm=3 child_pid=201',
    '               3 200/201 [001] 10.004000: sched:sched_process_exit: comm=3 pid=201 prio=120 group_dead=false',
    '               3 200/200 [001] 10.010000: sched:sched_process_exit: comm=3 pid=200 prio=120 group_dead=true',
    '           other 300/300 [000] 10.005000: sched:sched_process_exec: filename=/usr/bin/ls pid=300 old_pid=300',
  ].join('\n');

  it('follows the descendants of the root, names memfd re-execs, ends at the thread group death', () => {
    const events = parsePerfSched(perf, 100);
    expect(events.map((e) => e.what)).toEqual(['crun', 'crun (re-exec)']);
    expect(events[0]!.end).toBeCloseTo(10_002, 3);
    expect(events[1]!.end).toBeCloseTo(10_010, 3);
  });
});

describe('parseStraceExecs', () => {
  it('pairs execve with the exit of the pid, skips failed execs, joins unfinished calls', async () => {
    const path = join(dir, 'strace.txt');
    await writeFile(
      path,
      [
        '10 1700000000.000100 execve("/usr/bin/conmon", ["conmon", "--api-version", "1"], 0x1 /* 3 vars */) = 0',
        '11 1700000000.000200 execve("/usr/local/bin/crun", ["crun", "create"], 0x1) = -1 ENOENT (No such file or directory)',
        '11 1700000000.000300 execve("/usr/bin/crun", ["crun", "--root", "/x", "create", "id"] <unfinished ...>',
        '11 1700000000.000400 <... execve resumed>, 0x1) = 0',
        '11 1700000000.050300 +++ exited with 0 +++',
        '10 1700000000.060100 +++ exited with 0 +++',
      ].join('\n'),
    );
    const events = await parseStraceExecs(path);
    expect(events.map((e) => e.what)).toEqual(['conmon', 'crun create id']);
    expect(events[1]!.end! - events[1]!.at).toBeCloseTo(50, 3);
  });
});

describe('parseRequestLog', () => {
  it('reads fastify request start and response time, normalising ids and versions', async () => {
    const path = join(dir, 'log.json');
    const id = 'a'.repeat(64);
    await writeFile(
      path,
      [
        JSON.stringify({ level: 30, time: 1000, reqId: 'req-1', msg: 'incoming request', req: { method: 'POST', url: `/v1.50/containers/${id}/start` } }),
        'not json',
        JSON.stringify({ level: 30, time: 1100, reqId: 'req-1', msg: 'request completed', responseTime: 98.5 }),
      ].join('\n'),
    );
    const [ev] = await parseRequestLog(path);
    expect(ev).toEqual({ at: 1000, end: 1098.5, what: 'POST /containers/<id>/start' });
    expect(formatTimeline([ev!], 990)[0]).toContain('POST /containers/<id>/start');
  });
});

describe('stats', () => {
  it('median and quantile', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(Number.isNaN(median([]))).toBe(true);
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2);
    expect(quantile([1, 2, 3, 4], 1)).toBe(4);
  });
});
