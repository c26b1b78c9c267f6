import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';

/** A command that exited non-zero or timed out; stderr kept for the SKIPPED line. */
export class CommandError extends Error {
  readonly code = 'COMMAND_FAILED';
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Runs argv (never a shell) with a timeout; rejects with CommandError on failure. */
export function run(cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { env: opts.env ?? process.env, cwd: opts.cwd, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 32 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) {
          const first = (stderr || err.message).trim().split('\n').slice(-2).join(' | ');
          reject(new CommandError(`${cmd} ${args.slice(0, 4).join(' ')}: ${first}`, stderr));
        } else resolve({ stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Runs argv and resolves true when it exited 0 (errors swallowed: for cleanup). */
export async function tryRun(cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<boolean> {
  try {
    await run(cmd, args, opts);
    return true;
  } catch {
    return false;
  }
}

export interface Daemonised {
  child: ChildProcess;
  pid: number;
  logPath: string;
  exited: Promise<void>;
  isAlive(): boolean;
}

/** Starts a long-lived process with stdout+stderr appended to `logPath`. */
export function spawnLogged(cmd: string, args: readonly string[], logPath: string, env: NodeJS.ProcessEnv = process.env): Daemonised {
  const fd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env });
  } finally {
    closeSync(fd);
  }
  let alive = true;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      alive = false;
      resolve();
    });
    child.once('error', () => {
      alive = false;
      resolve();
    });
  });
  return { child, pid: child.pid ?? -1, logPath, exited, isAlive: () => alive };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** SIGTERM, then SIGKILL after `graceMs`; waits (bounded) for the exit. */
export async function stopProcess(p: Daemonised, graceMs = 15_000): Promise<void> {
  if (!p.isAlive()) return;
  p.child.kill('SIGTERM');
  const done = await Promise.race([p.exited.then(() => true), sleep(graceMs).then(() => false)]);
  if (!done) {
    p.child.kill('SIGKILL');
    await Promise.race([p.exited, sleep(5_000)]);
  }
}

/** Kills one pid (not a child of ours) by number, SIGTERM then SIGKILL, bounded. */
export async function killPid(pid: number, graceMs = 5_000): Promise<void> {
  if (!pidAlive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < graceMs / 100 && pidAlive(pid); i++) await sleep(100);
  if (pidAlive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface ProcInfo {
  pid: number;
  ppid: number;
  comm: string;
  rssBytes: number;
  cmdline: string;
}

/** Every process on the host with parent, name, RSS and command line (/proc). */
export async function listProcesses(): Promise<ProcInfo[]> {
  const out: ProcInfo[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = await readFile(`/proc/${name}/status`, 'utf8');
      const cmdline = (await readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0').join(' ').trim();
      const field = (k: string): string => status.match(new RegExp(`^${k}:\\s*(.*)$`, 'm'))?.[1] ?? '';
      out.push({
        pid: Number(name),
        ppid: Number(field('PPid')),
        comm: field('Name'),
        rssBytes: Number.parseInt(field('VmRSS') || '0', 10) * 1024,
        cmdline,
      });
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** RSS of one process. */
export async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number.parseInt(status.match(/^VmRSS:\s*(\d+)/m)?.[1] ?? '0', 10) * 1024;
}

/** Processes whose command line contains `marker` (a unique temp dir of ours). */
export async function processesMentioning(marker: string): Promise<ProcInfo[]> {
  return (await listProcesses()).filter((p) => p.cmdline.includes(marker) && p.pid !== process.pid);
}
