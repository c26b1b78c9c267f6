// The CLI's start-up as a user meets it: `berth` run through a symlink in a bin folder (as
// `npm i -g` links it), with its code cache in a fresh folder filled by warm-up runs, against
// `node -e 0` in the same interleaved rounds. Wall time is what the user waits; CPU time
// (the children's, from /proc/self/stat) is what a busy machine disturbs less.
import { mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunningDaemon } from './daemons.js';
import { run } from './proc.js';
import { fmtMs, median } from './stats.js';

export interface StartupCommand {
  label: string;
  /** `berth` arguments; undefined for the `node -e 0` floor. */
  berthArgs?: string[];
  /** Checks a run's stdout (e.g. the number of `ps` rows). */
  check?: (stdout: string) => void;
}

export interface StartupFigure {
  label: string;
  wallMs: number;
  cpuMs: number;
  samples: number;
}

/** CPU of the children this process waited for, in ms. */
async function childrenCpuMs(): Promise<number> {
  const stat = await readFile('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[13]) + Number(f[14])) * 1000) / 100;
}

/**
 * Runs each command `rounds` times, alternating, after `warmup` rounds that are not counted
 * (they fill the code cache). Medians of wall time; CPU as the mean over the counted runs
 * (the kernel counts it in 10 ms ticks: only sums are exact enough).
 */
export async function measureCliStartup(cliFile: string, env: NodeJS.ProcessEnv, commands: StartupCommand[], rounds: number, warmup = 3): Promise<StartupFigure[]> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-startup-'));
  try {
    await mkdir(join(dir, 'bin'));
    const berth = join(dir, 'bin', 'berth');
    await symlink(cliFile, berth);
    const runEnv = { ...env, XDG_CACHE_HOME: join(dir, 'cache'), PATH: `${join(dir, 'bin')}:${env['PATH'] ?? process.env['PATH'] ?? ''}` };
    const wall = new Map<string, number[]>(commands.map((c) => [c.label, []]));
    const cpu = new Map<string, number>(commands.map((c) => [c.label, 0]));
    for (let round = 0; round < warmup + rounds; round++) {
      for (const c of commands) {
        const cpu0 = await childrenCpuMs();
        const t0 = performance.now();
        const r = c.berthArgs ? await run(berth, c.berthArgs, { env: runEnv }) : await run(process.execPath, ['-e', '0'], { env: runEnv });
        const ms = performance.now() - t0;
        const cpuMs = (await childrenCpuMs()) - cpu0;
        c.check?.(r.stdout);
        if (round < warmup) continue;
        wall.get(c.label)!.push(ms);
        cpu.set(c.label, cpu.get(c.label)! + cpuMs);
      }
    }
    return commands.map((c) => ({ label: c.label, wallMs: median(wall.get(c.label)!), cpuMs: cpu.get(c.label)! / rounds, samples: rounds }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The bench's lines: `node -e 0`, `berth --version` and `berth ps -a` with 10 created
 * containers on `d` (removed after), in one interleaved run.
 */
export async function cliStartupLines(cliFile: string, d: RunningDaemon, image: string, rounds: number): Promise<string[]> {
  const ids: string[] = [];
  try {
    for (let i = 0; i < 10; i++) {
      const r = await d.http.send('POST', '/v1.41/containers/create', { Image: image, Cmd: ['true'], HostConfig: { NetworkMode: 'none' } });
      if (r.status !== 201) throw new Error(`create: ${r.status} ${r.body.slice(0, 200)}`);
      ids.push((JSON.parse(r.body) as { Id: string }).Id);
    }
    const rows = (out: string): void => {
      const n = out.trim().split('\n').length;
      if (n !== 11) throw new Error(`berth ps -a printed ${n} lines, not a header and 10 containers`);
    };
    const [node, version, ps] = (await measureCliStartup(cliFile, { ...d.dockerEnv, BERTH_HOST: d.host }, [
      { label: 'node -e 0' },
      { label: 'berth --version', berthArgs: ['--version'] },
      { label: 'berth ps -a (10 containers)', berthArgs: ['ps', '-a'], check: rows },
    ], rounds)) as [StartupFigure, StartupFigure, StartupFigure];
    const line = (f: StartupFigure): string =>
      `start-up ${f.label}: median ${fmtMs(f.wallMs)}, CPU ${fmtMs(f.cpuMs)} (mean of ${f.samples})` +
      (f === node ? '' : ` = node + ${fmtMs(f.wallMs - node.wallMs)}, CPU node + ${fmtMs(f.cpuMs - node.cpuMs)}`);
    return [
      ...[node, version, ps].map(line),
      `start-up target: berth --version node + ${fmtMs(version.wallMs - node.wallMs)} (target 5 ms), berth ps node + ${fmtMs(ps.wallMs - node.wallMs)} (target 15 ms)`,
    ];
  } finally {
    for (const id of ids) await d.http.send('DELETE', `/v1.41/containers/${id}?force=1`).catch(() => undefined);
  }
}
