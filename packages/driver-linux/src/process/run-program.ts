import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { delimiter, join } from 'node:path';
import { BerthError } from '@berth/image-format';
import { MOUNT_SYSCALLS, PAUSE_SYSCALLS } from './syscall-numbers.js';
import { ProgramStartError, SpawnServer, type ProgramOptions, type ProgramResult } from './spawn-server.js';

let server: SpawnServer | undefined;

/** The process-wide helper, made on first use (none where Perl is missing or BERTH_DIRECT_SPAWN=1). */
function spawnServer(): SpawnServer | undefined {
  if (server === undefined && process.env['BERTH_DIRECT_SPAWN'] !== '1' && perlOnPath()) server = new SpawnServer();
  return server;
}

function perlOnPath(): boolean {
  for (const dir of (process.env['PATH'] ?? '/usr/bin:/bin').split(delimiter)) {
    try {
      accessSync(join(dir || '.', 'perl'), constants.X_OK);
      return true;
    } catch {
      // next
    }
  }
  return false;
}

/**
 * Runs a program to completion (argv, never a shell string) and collects its output.
 * Goes through the process-wide SpawnServer (cheap forks), or spawns directly where
 * Perl is missing or BERTH_DIRECT_SPAWN=1. Never throws on an exit code; throws
 * ProgramStartError when the program cannot be started.
 */
export function runProgram(file: string, args: readonly string[], options: ProgramOptions = {}): Promise<ProgramResult> {
  const s = spawnServer();
  if (s?.usable) return s.run(file, args, options);
  return runDirect(file, args, options);
}

/**
 * Starts a program that stays running and reports on a sync pipe (fd 3): resolves with
 * the first message and stderr so far. Undefined where the helper is not available:
 * the caller spawns it itself.
 */
export function startWithSyncPipe(file: string, args: readonly string[], options: Omit<ProgramOptions, 'input'> = {}): Promise<{ message: string; stderr: string }> | undefined {
  const s = spawnServer();
  if (!s?.usable) return undefined;
  return s.daemon(file, args, options).then((r) => ({ message: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') }));
}

/**
 * A pod sandbox's pause process started by the spawn helper (pause-helper.ts): resolves
 * with its monitor's sync message. Undefined where the helper or this architecture's
 * syscall numbers are not available: the caller runs the container's own process then.
 */
export function startPauseDirect(exitFile: string, rootDir: string, settings: readonly string[]): Promise<{ message: string }> | undefined {
  const numbers = PAUSE_SYSCALLS[process.arch];
  const s = spawnServer();
  if (!numbers || !s?.usable) return undefined;
  const args = [...Object.entries(numbers).map(([k, v]) => `${k}=${v}`), ...settings];
  return s.pause(exitFile, rootDir, args).then((r) => ({ message: r.stdout.toString('utf8') }));
}

/** Whether startPauseDirect can start a pause here. */
export function pauseDirectAvailable(): boolean {
  return PAUSE_SYSCALLS[process.arch] !== undefined && spawnServer()?.usable === true;
}

/**
 * A new network namespace with loopback up, bind-mounted on `path` (an existing file),
 * made by the spawn helper without running a program. False where the helper or this
 * architecture's syscall numbers are not available: the caller runs unshare(1) then.
 */
export async function createNetnsDirect(path: string): Promise<boolean> {
  const numbers = MOUNT_SYSCALLS[process.arch];
  const s = spawnServer();
  if (!numbers || !s?.usable) return false;
  await s.netns(path, numbers);
  return true;
}

/**
 * mount(2) of an overlay by the spawn helper, without mount(8) (a program start per
 * container rootfs). False where the helper or the syscall number is not available.
 */
export async function mountOverlayDirect(target: string, source: string, data: string, cwd: string | undefined): Promise<boolean> {
  const numbers = MOUNT_SYSCALLS[process.arch];
  const s = spawnServer();
  if (!numbers || !s?.usable) return false;
  await s.mount(target, source, 'overlay', data, cwd, numbers.mount);
  return true;
}

/**
 * umount2(2) of `target` by the spawn helper, without umount(8) (a program start per
 * rootfs and per network namespace): '' when done, else the errno's text ("Invalid
 * argument": nothing mounted there). Undefined where the helper or the syscall number is
 * not available: the caller runs umount(8) then.
 */
export async function umountDirect(target: string, lazy: boolean): Promise<string | undefined> {
  const numbers = MOUNT_SYSCALLS[process.arch];
  const s = spawnServer();
  if (!numbers || !s?.usable) return undefined;
  const MNT_DETACH = 2;
  return s.umount(target, lazy ? MNT_DETACH : 0, numbers.umount2);
}

/** The plain child_process way (what the helper saves the daemon's main thread from). */
export function runDirect(file: string, args: readonly string[], options: ProgramOptions = {}): Promise<ProgramResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env: options.env ?? process.env,
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(options.timeoutMs ? { timeout: options.timeoutMs, killSignal: 'SIGKILL' as const } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e) => reject(new ProgramStartError(file, e.message)));
    child.on('close', (code, signal) => {
      const signo = signal ? osConstants.signals[signal] : undefined;
      resolve({ code: code ?? 128 + (signo ?? 0), ...(signo !== undefined ? { signal: signo } : {}), stdout: Buffer.concat(out), stderr: Buffer.concat(err) });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** A program exited non-zero (or by a signal); carries its output like execFile's error. */
class ProgramFailedError extends BerthError {
  constructor(
    file: string,
    readonly exitCode: number,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super('Internal', `${file} failed (exit ${exitCode}): ${(stderr || stdout).trim()}`);
    this.name = 'ProgramFailedError';
  }
}

/** runProgram for programs whose failure is an error: resolves with stdout on exit 0. */
export async function runOrThrow(file: string, args: readonly string[], options: ProgramOptions = {}): Promise<string> {
  const r = await runProgram(file, args, options);
  const stdout = r.stdout.toString('utf8');
  if (r.code !== 0) throw new ProgramFailedError(file, r.code, stdout, r.stderr.toString('utf8'));
  return stdout;
}
