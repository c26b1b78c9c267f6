// The report half of the bench's `profile` section: from berthd's request log, the child
// processes seen (perf's sched tracepoints or strace's execve lines) and its CPU profile,
// where the time of each timed `docker run --rm` went.
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { summarizeCpuProfile } from './cpu-profile.js';
import { run } from './proc.js';
import { fmtMs, median } from './stats.js';
import { formatTimeline, parsePerfSched, parseRequestLog, parseStraceExecs, type TimelineEvent } from './timeline.js';

export interface RunRmProfile {
  label: string;
  /** berthd's log with its request lines. */
  log: string;
  /** perf's data file when perf traced the runs (removed once read); else strace wrote `straceOut`. */
  perfData?: string | undefined;
  straceOut: string;
  /** berthd's node process. */
  nodePid: number;
  /** Each timed run's wall window (epoch ms) and the same in hrtime µs (the profile's clock). */
  windows: { t0: number; t1: number }[];
  hrWindows: { fromUs: number; toUs: number }[];
  durations: number[];
  /** berthd's CPU ticks over the timed runs (10 ms each). */
  cpuTicks: { self: number; children: number };
  /** Where `--cpu-prof` wrote. */
  profDir: string;
  runs: number;
}

/** Prints where the time went; returns the lines for the bench's table. */
export async function reportRunRmProfile(o: RunRmProfile): Promise<string[]> {
  const lines: string[] = [];
  const requests = await parseRequestLog(o.log);
  let execs: TimelineEvent[];
  if (o.perfData) {
    // CLOCK_MONOTONIC ms -> epoch ms, the clock of the request logs and the windows
    const offset = Date.now() - Number(process.hrtime.bigint()) / 1e6;
    const script = await run('perf', ['script', '-F', 'comm,pid,tid,cpu,time,event,trace', '-i', o.perfData], { timeoutMs: 120_000 });
    execs = parsePerfSched(script.stdout, o.nodePid).map((e) => ({ ...e, at: e.at + offset, ...(e.end !== undefined ? { end: e.end + offset } : {}) }));
    await rm(o.perfData, { force: true });
  } else {
    execs = await parseStraceExecs(o.straceOut);
  }
  const reqDur = new Map<string, number[]>();
  const execDur = new Map<string, number[]>();
  const execN = new Map<string, number[]>();
  const execCount: number[] = [];
  const phases = { create: [] as number[], start: [] as number[], exitToReturn: [] as number[], cni: [] as number[] };
  for (const w of o.windows) {
    const inW = (e: TimelineEvent) => e.at >= w.t0 && e.at <= w.t1;
    const rq = requests.filter(inW);
    for (const e of rq) if (e.end !== undefined) reqDur.set(e.what, [...(reqDur.get(e.what) ?? []), e.end - e.at]);
    const ex = execs.filter(inW);
    execCount.push(ex.length);
    const perProg = new Map<string, number>();
    const perProgCount = new Map<string, number>();
    for (const e of ex) {
      perProgCount.set(e.what, (perProgCount.get(e.what) ?? 0) + 1);
      if (e.end !== undefined) perProg.set(e.what, (perProg.get(e.what) ?? 0) + (e.end - e.at));
    }
    for (const [k, v] of perProg) execDur.set(k, [...(execDur.get(k) ?? []), v]);
    for (const [k, v] of perProgCount) execN.set(k, [...(execN.get(k) ?? []), v]);
    const create = rq.find((e) => e.what.endsWith('/containers/create'));
    const start = rq.find((e) => e.what.endsWith('/start'));
    const wait = rq.find((e) => e.what.endsWith('/wait'));
    if (create?.end) phases.create.push(create.end - create.at);
    if (start?.end) phases.start.push(start.end - start.at);
    const lastTrue = [...ex].reverse().find((e) => e.what === 'true' || e.what === 'busybox');
    if (wait?.end && lastTrue?.end) phases.exitToReturn.push(wait.end - lastTrue.end);
    phases.cni.push(ex.filter((e) => /^(bridge|firewall|host-local|loopback|portmap|tuning)$|^(bridge|firewall|host-local|loopback|portmap|tuning) /.test(e.what)).reduce((a, e) => a + ((e.end ?? e.at) - e.at), 0));
  }
  lines.push(`profile ${o.label}: phases median: create ${fmtMs(median(phases.create))}, start ${fmtMs(median(phases.start))}, container exit -> wait returns (teardown + remove) ${fmtMs(median(phases.exitToReturn))}; CNI plugins ${fmtMs(median(phases.cni))}; ${median(execCount)} child processes per run`);
  console.log('requests (median duration per run, from berthd request logs):');
  for (const [k, v] of reqDur) console.log(`  ${k.padEnd(40)} ${fmtMs(median(v))} (x${(v.length / o.windows.length).toFixed(1)} per run)`);
  console.log(`child processes per run: median ${median(execCount)}; summed lifetime per run by program (median):`);
  for (const [k, v] of [...execDur.entries()].sort((a, b) => median(b[1]) - median(a[1])).slice(0, 25)) console.log(`  ${k.padEnd(40)} ${fmtMs(median(v)).padStart(9)}  x${median(execN.get(k) ?? [])} per run`);
  const sorted = [...o.durations].sort((a, b) => a - b);
  const mid = o.durations.indexOf(sorted[Math.floor(sorted.length / 2)]!);
  const w = o.windows[mid];
  if (w) {
    console.log(`timeline of a median run (${fmtMs(o.durations[mid]!)}; t=0 when the docker CLI was spawned; start offset, duration, what):`);
    for (const l of formatTimeline([...requests, ...execs].filter((e) => e.at >= w.t0 && e.at <= w.t1), w.t0)) console.log(l);
    console.log(`  +${(w.t1 - w.t0).toFixed(1).padStart(6)} ms  docker CLI exited`);
  }
  const profiles = (await readdir(o.profDir)).filter((f) => f.endsWith('.cpuprofile'));
  if (!profiles[0]) {
    console.log('no CPU profile written');
    return lines;
  }
  const s = await summarizeCpuProfile(join(o.profDir, profiles[0]), 25, o.hrWindows);
  console.log(`berthd CPU profile of the ${o.runs} timed runs: main thread busy ${fmtMs(s.busyMs)} of ${fmtMs(s.wallMs)} wall; GC ${fmtMs(s.gcMs)}`);
  lines.push(`profile ${o.label}: berthd CPU per run: ${fmtMs((o.cpuTicks.self * 10) / o.runs)} user+sys (all threads, /proc; its waited-for children ${fmtMs((o.cpuTicks.children * 10) / o.runs)}), main thread ${fmtMs(s.busyMs / o.runs)} of which ChildProcess.spawn ${fmtMs((s.allFunctions.find((f) => f.name.startsWith('ChildProcess.spawn'))?.selfMs ?? 0) / o.runs)}`);
  console.log('self time by part:');
  for (const b of s.byBucket.slice(0, 15)) console.log(`  ${b.bucket.padEnd(40)} ${fmtMs(b.selfMs)}`);
  console.log('top functions by self time:');
  for (const f of s.topFunctions) console.log(`  ${f.name.slice(0, 90).padEnd(90)} ${fmtMs(f.selfMs)}`);
  return lines;
}
