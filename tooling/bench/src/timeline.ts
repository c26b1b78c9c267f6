import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';

export interface TimelineEvent {
  /** Epoch ms. */
  at: number;
  /** Epoch ms when it ended, if known. */
  end?: number;
  what: string;
}

/**
 * Child programs berthd ran, from `strace -f -ttt -e trace=execve,exit_group -o FILE`:
 * one event per successful execve, ended at that pid's exit.
 */
export async function parseStraceExecs(path: string): Promise<TimelineEvent[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const events: TimelineEvent[] = [];
  const open = new Map<number, TimelineEvent>();
  const pending = new Map<number, TimelineEvent>();
  for (const line of text.split('\n')) {
    const m = line.match(/^(\d+)\s+(\d+\.\d+)\s+(.*)$/);
    if (!m) continue;
    const pid = Number(m[1]);
    const at = Number(m[2]) * 1000;
    const rest = m[3]!;
    if (rest.startsWith('execve(')) {
      const argv = rest.match(/execve\("([^"]*)", \[(.*?)\]/);
      const args = (argv?.[2] ?? '').match(/"((?:[^"\\]|\\.)*)"/g)?.map((a) => a.slice(1, -1)) ?? [];
      const prog = basename(argv?.[1] ?? '?');
      const shown = summarizeArgv(prog, args);
      const ev: TimelineEvent = { at, what: shown };
      if (rest.includes('<unfinished ...>')) pending.set(pid, ev);
      else if (!/= -1 /.test(rest)) {
        events.push(ev);
        open.set(pid, ev);
      }
    } else if (rest.startsWith('<... execve resumed>')) {
      const ev = pending.get(pid);
      pending.delete(pid);
      if (ev && !/= -1 /.test(rest)) {
        events.push(ev);
        open.set(pid, ev);
      }
    } else if (rest.startsWith('+++ exited') || rest.startsWith('+++ killed')) {
      const ev = open.get(pid);
      if (ev) ev.end = at;
      open.delete(pid);
    }
  }
  return events;
}

/** `crun create` rather than the whole argv: program, subcommand, the telling flag. */
function summarizeArgv(prog: string, args: string[]): string {
  const a = args.slice(1);
  if (prog === 'conmon') return 'conmon';
  if (prog === 'sh' || prog === 'dash') {
    // wrapper scripts: name the script
    const script = a.find((x) => x.endsWith('.sh'));
    return `sh ${script ? basename(script) : a.slice(0, 2).join(' ')} ${a.filter((x) => !x.startsWith('-') && !x.includes('/')).slice(0, 1).join(' ')}`.trim();
  }
  const words = a.filter((x) => !x.startsWith('-') && !x.includes('/') && x.length < 24).slice(0, 2);
  return `${prog} ${words.join(' ')}`.trim();
}

/** Requests from berthd's pino log (fastify's `incoming request` / `request completed`). */
export async function parseRequestLog(path: string): Promise<TimelineEvent[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const byId = new Map<string, TimelineEvent>();
  const events: TimelineEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    let rec: { time?: number; reqId?: string; msg?: string; req?: { method?: string; url?: string }; responseTime?: number };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      continue;
    }
    if (!rec.reqId || rec.time === undefined) continue;
    if (rec.msg === 'incoming request' && rec.req) {
      const ev: TimelineEvent = { at: rec.time, what: `${rec.req.method} ${(rec.req.url ?? '').replace(/\?.*$/, '').replace(/[0-9a-f]{64}/, '<id>').replace(/^\/v1\.\d+/, '')}` };
      byId.set(rec.reqId, ev);
      events.push(ev);
    } else if (rec.msg === 'request completed') {
      const ev = byId.get(rec.reqId);
      if (ev) ev.end = rec.responseTime !== undefined ? ev.at + rec.responseTime : rec.time;
    }
  }
  return events;
}

/** Printable lines, times relative to `t0`, sorted by start. */
export function formatTimeline(events: TimelineEvent[], t0: number): string[] {
  return [...events]
    .sort((a, b) => a.at - b.at)
    .map((e) => `  +${(e.at - t0).toFixed(1).padStart(6)} ms  ${e.end !== undefined ? `${(e.end - e.at).toFixed(1).padStart(6)} ms` : '     -   '}  ${e.what}`);
}

/**
 * Child programs of `rootPid` (and their descendants) from
 * `perf record -a -k CLOCK_MONOTONIC -e sched:sched_process_{fork,exec,exit}` as printed by
 * `perf script -F comm,pid,tid,cpu,time,event,trace`: one event per exec, ended when that
 * process (thread group) dies; times in CLOCK_MONOTONIC ms (the clock of process.hrtime).
 * System-wide tracepoints cost the traced daemon nothing, unlike ptrace. An exec of
 * `/proc/self/fd/N` (crun re-executing itself from a memfd) is named after the program
 * it continues.
 */
export function parsePerfSched(text: string, rootPid: number): TimelineEvent[] {
  const ours = new Set<number>([rootPid]);
  const byProcess = new Map<number, TimelineEvent>();
  const events: TimelineEvent[] = [];
  for (const line of text.split('\n')) {
    const m = line.match(/^\s*.+?\s+(\d+)\/(\d+)\s+\[\d+\]\s+(\d+\.\d+):\s+sched:(sched_process_\w+):\s+(.*)$/);
    if (!m) continue;
    const tgid = Number(m[1]);
    const at = Number(m[3]) * 1000;
    const kind = m[4]!;
    const rest = m[5]!;
    if (kind === 'sched_process_fork') {
      if (ours.has(tgid)) ours.add(Number(rest.match(/child_pid=(\d+)/)?.[1]));
    } else if (kind === 'sched_process_exec') {
      if (!ours.has(tgid)) continue;
      const file = rest.match(/filename=(\S+)/)?.[1] ?? '?';
      const prev = byProcess.get(tgid);
      if (prev && prev.end === undefined) prev.end = at; // exec replaced the previous program
      const name = /\/fd\/\d+$|^\d+$/.test(file) && prev ? `${prev.what.replace(/ \(re-exec\)$/, '')} (re-exec)` : basename(file);
      const ev: TimelineEvent = { at, what: name };
      events.push(ev);
      byProcess.set(tgid, ev);
    } else if (kind === 'sched_process_exit') {
      if (!ours.has(tgid) || !/group_dead=(true|1)/.test(rest)) continue;
      const ev = byProcess.get(tgid);
      if (ev && ev.end === undefined) ev.end = at;
      byProcess.delete(tgid);
    }
  }
  return events;
}
