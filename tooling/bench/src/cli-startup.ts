// The CLI's start-up as a user meets it: the package laid out as `npm i -g` installs it
// (its files under lib/node_modules, its postinstall run as npm runs it, `berth` a symlink
// in a bin folder), with its code cache in a fresh folder filled by warm-up runs, against
// `node -e 0` in the same interleaved rounds. Wall time is what the user waits; CPU time
// (the children's, from /proc/self/stat) is what a busy machine disturbs less.
import { cp, mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { RunningDaemon } from './daemons.js';
import { run } from './proc.js';
import { fmtMs, median } from './stats.js';

export interface StartupCommand {
  label: string;
  /** `berth` arguments; undefined for the `node -e 0` floor. */
  berthArgs?: string[];
  /** Another build of the CLI to run (e.g. main's, for a before/after in one run); default the one measured. */
  cliFile?: string;
  /** Checks a run's stdout (e.g. the number of `ps` rows). */
  check?: (stdout: string) => void;
}

export interface StartupFigure {
  label: string;
  /** The first line of the launcher it ran, as installed (undefined for `node -e 0`). */
  hashBang?: string;
  wallMs: number;
  /** The fastest run: on a shared machine, the one least held up by others. */
  fastestMs: number;
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
 * Lays out the package whose launcher is `cliFile` (<package>/dist/berth.js) in `into` as
 * npm installs it — its dist, its install/ scripts, its package.json — and runs its
 * postinstall there as npm does (sh -c, the user's PATH), which names node on the
 * launcher's #! line. A build without one (a dist alone, an older build) stays as it is.
 * Returns the installed launcher.
 */
async function installLike(cliFile: string, into: string, env: NodeJS.ProcessEnv): Promise<string> {
  const pkg = dirname(dirname(cliFile));
  await mkdir(into, { recursive: true });
  await cp(dirname(cliFile), join(into, 'dist'), { recursive: true });
  let postinstall: string | undefined;
  try {
    postinstall = (JSON.parse(await readFile(join(pkg, 'package.json'), 'utf8')) as { scripts?: Record<string, string> }).scripts?.['postinstall'];
    await cp(join(pkg, 'package.json'), join(into, 'package.json'));
    await cp(join(pkg, 'install'), join(into, 'install'), { recursive: true });
  } catch {
    // a dist alone
  }
  if (postinstall) await run('sh', ['-c', postinstall], { cwd: into, env });
  return join(into, 'dist', basename(cliFile));
}

/**
 * Runs each command `rounds` times, alternating, after `warmup` rounds that are not counted
 * (they fill the code cache). Medians of wall time; CPU as the mean over the counted runs
 * (the kernel counts it in 10 ms ticks: only sums are exact enough).
 */
export async function measureCliStartup(cliFile: string, env: NodeJS.ProcessEnv, commands: StartupCommand[], rounds: number, warmup = 3): Promise<StartupFigure[]> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-startup-'));
  try {
    // each build linked as `berth` in a bin folder of its own, with a cache folder of its own
    // (a build removes another build's caches: sharing one would refill it every run)
    const builds = new Map<string, { berth: string; env: NodeJS.ProcessEnv; hashBang: string }>();
    for (const file of new Set([cliFile, ...commands.flatMap((c) => (c.cliFile ? [c.cliFile] : []))])) {
      const home = join(dir, `build${builds.size}`);
      await mkdir(join(home, 'bin'), { recursive: true });
      const berth = join(home, 'bin', 'berth');
      const buildEnv = { ...env, XDG_CACHE_HOME: join(home, 'cache'), PATH: `${join(home, 'bin')}:${env['PATH'] ?? process.env['PATH'] ?? ''}` };
      const launcher = await installLike(file, join(home, 'lib', 'node_modules', '@berth', 'cli'), buildEnv);
      await symlink(launcher, berth);
      builds.set(file, { berth, env: buildEnv, hashBang: (await readFile(launcher, 'utf8')).split('\n')[0]! });
    }
    const runEnv = builds.get(cliFile)!.env;
    const wall = new Map<string, number[]>(commands.map((c) => [c.label, []]));
    const cpu = new Map<string, number>(commands.map((c) => [c.label, 0]));
    for (let round = 0; round < warmup + rounds; round++) {
      for (const c of commands) {
        const build = builds.get(c.cliFile ?? cliFile)!;
        const cpu0 = await childrenCpuMs();
        const t0 = performance.now();
        const r = c.berthArgs ? await run(build.berth, c.berthArgs, { env: build.env }) : await run(process.execPath, ['-e', '0'], { env: runEnv });
        const ms = performance.now() - t0;
        const cpuMs = (await childrenCpuMs()) - cpu0;
        c.check?.(r.stdout);
        if (round < warmup) continue;
        wall.get(c.label)!.push(ms);
        cpu.set(c.label, cpu.get(c.label)! + cpuMs);
      }
    }
    return commands.map((c) => ({
      label: c.label,
      ...(c.berthArgs ? { hashBang: builds.get(c.cliFile ?? cliFile)!.hashBang } : {}),
      wallMs: median(wall.get(c.label)!),
      fastestMs: Math.min(...wall.get(c.label)!),
      cpuMs: cpu.get(c.label)! / rounds,
      samples: rounds,
    }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The bench's lines: `node -e 0`, `berth --version` and `berth ps -a` with 10 created
 * containers on `d` (removed after), in one interleaved run; with `before` (another build's
 * berth.js, e.g. main's), its two commands too, in the same rounds.
 */
export async function cliStartupLines(cliFile: string, d: RunningDaemon, image: string, rounds: number, before?: string): Promise<string[]> {
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
    const commands: StartupCommand[] = [
      { label: 'node -e 0' },
      { label: 'berth --version', berthArgs: ['--version'] },
      { label: 'berth ps -a (10 containers)', berthArgs: ['ps', '-a'], check: rows },
    ];
    if (before) {
      commands.push(
        { label: 'before: berth --version', berthArgs: ['--version'], cliFile: before },
        { label: 'before: berth ps -a (10 containers)', berthArgs: ['ps', '-a'], check: rows, cliFile: before },
      );
    }
    const figures = await measureCliStartup(cliFile, { ...d.dockerEnv, BERTH_HOST: d.host }, commands, rounds);
    const [node, version, ps] = figures as [StartupFigure, StartupFigure, StartupFigure];
    const line = (f: StartupFigure): string =>
      `start-up ${f.label}: median ${fmtMs(f.wallMs)} (fastest ${fmtMs(f.fastestMs)}), CPU ${fmtMs(f.cpuMs)} (mean of ${f.samples})` +
      (f === node
        ? ''
        : ` = node + ${fmtMs(f.wallMs - node.wallMs)} (fastest: node + ${fmtMs(f.fastestMs - node.fastestMs)}), CPU node + ${fmtMs(f.cpuMs - node.cpuMs)} [${f.hashBang}]`);
    return [
      ...(before ? [`start-up before = ${before}`] : []),
      ...figures.map(line),
      `start-up target: berth --version node + ${fmtMs(version.wallMs - node.wallMs)} (target 5 ms), berth ps node + ${fmtMs(ps.wallMs - node.wallMs)} (target 15 ms)`,
    ];
  } finally {
    for (const id of ids) await d.http.send('DELETE', `/v1.41/containers/${id}?force=1`).catch(() => undefined);
  }
}
