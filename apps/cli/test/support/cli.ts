import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const appDir = join(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Builds the CLI bundle from the current sources into a temp dir (so tests never run a
 * stale dist, and parallel test files never share one) and returns its path.
 */
export async function buildCli(): Promise<string> {
  const out = await mkdtemp(join(tmpdir(), 'berth-cli-bundle-'));
  await new Promise<void>((resolve, reject) => {
    execFile('pnpm', ['exec', 'tsup', '--out-dir', out, '--silent'], { cwd: appDir, timeout: 120_000 }, (err, _o, stderr) =>
      err ? reject(new Error(`building the CLI failed: ${stderr}`)) : resolve(),
    );
  });
  return join(out, 'berth.js');
}

/** Removes a bundle made by buildCli. */
export async function removeCli(bin: string | undefined): Promise<void> {
  if (bin) await rm(dirname(bin), { recursive: true, force: true });
}

/** Runs a command (bounded by a timeout), never throwing: tests assert on the result. */
export function runProcess(file: string, args: string[], env: NodeJS.ProcessEnv, opts: { input?: string | Buffer; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { env, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 256 * 1024 * 1024, killSignal: 'SIGKILL', encoding: 'buffer' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout: stdout.toString('utf8'), stderr: stderr.toString('utf8') });
    });
    // A command may exit before it read all its input (a refused upload): EPIPE is its answer, not ours.
    child.stdin!.on('error', () => undefined);
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
  });
}

export function berthRunner(bin: string, env: NodeJS.ProcessEnv) {
  const berth = (args: string[], opts: { input?: string | Buffer; timeoutMs?: number } = {}): Promise<CliResult> => runProcess(process.execPath, [bin, ...args], env, opts);
  const berthOk = async (args: string[], opts: { input?: string | Buffer; timeoutMs?: number } = {}): Promise<string> => {
    const r = await berth(args, opts);
    if (r.code !== 0) throw new Error(`berth ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r.stdout;
  };
  return { berth, berthOk };
}

export function dockerRunner(env: NodeJS.ProcessEnv) {
  const docker = (args: string[], opts: { input?: string | Buffer; timeoutMs?: number } = {}): Promise<CliResult> => runProcess('docker', args, env, opts);
  const dockerOk = async (args: string[], opts: { input?: string | Buffer; timeoutMs?: number } = {}): Promise<string> => {
    const r = await docker(args, opts);
    if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r.stdout;
  };
  return { docker, dockerOk };
}

/** A tmux session running `command` in a real terminal of the given size. */
type Runner = (args: string[]) => Promise<CliResult>;

/** Runs both CLIs until their outputs agree (times like "3 seconds ago" may tick between them). */
export async function sameOutput(berth: Runner, docker: Runner, args: string[]): Promise<{ b: CliResult; d: CliResult }> {
  let b: CliResult | undefined;
  let d: CliResult | undefined;
  for (let i = 0; i < 5; i++) {
    [b, d] = await Promise.all([berth(args), docker(args)]);
    if (b.stdout === d.stdout) break;
  }
  // Under heavy load the two CLIs can render "N seconds ago" a clock tick apart on every try;
  // that is the clock, not a difference between them, so it is the only one forgiven.
  if (b!.stdout !== d!.stdout && sameUpToSecondTicks(b!.stdout, d!.stdout)) d = { ...d!, stdout: b!.stdout };
  return { b: b!, d: d! };
}

/** Equal text, except that counts of seconds ("12 seconds ago", "Up 3 seconds") may differ by 2. */
export function sameUpToSecondTicks(a: string, b: string): boolean {
  const split = (s: string): string[] => s.split(/(\d+ seconds?\b)/);
  const pa = split(a);
  const pb = split(b);
  if (pa.length !== pb.length) return false;
  return pa.every((part, i) => (i % 2 === 0 ? part === pb[i] : Math.abs(parseInt(part, 10) - parseInt(pb[i]!, 10)) <= 2));
}

export class Tmux {
  readonly name = `berth-cli-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;

  static async start(command: string[], env: NodeJS.ProcessEnv, size = { cols: 100, rows: 30 }): Promise<Tmux> {
    const t = new Tmux();
    const envArgs = Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
    // A shell around the command reports its exit status on the screen (bounded by the sleep).
    const wrapped = ['sh', '-c', '"$@"; echo "EXIT=$?"; sleep 120', 'sh', ...command];
    await t.tmux(['new-session', '-d', '-s', t.name, '-x', String(size.cols), '-y', String(size.rows), ...envArgs, ...wrapped]);
    return t;
  }

  tmux(args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile('tmux', args, { timeout: 10_000 }, (err, stdout, stderr) => (err ? reject(new Error(`tmux ${args.join(' ')}: ${stderr}`)) : resolve(stdout)));
    });
  }

  sendKeys(...keys: string[]): Promise<string> {
    return this.tmux(['send-keys', '-t', this.name, ...keys]);
  }

  /** The visible screen (`-J` joins wrapped lines). */
  capture(): Promise<string> {
    return this.tmux(['capture-pane', '-p', '-J', '-t', this.name]);
  }

  /** Polls the screen until `predicate` holds (bounded). */
  async waitFor(predicate: (screen: string) => boolean, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let screen = '';
    while (Date.now() < deadline) {
      screen = await this.capture();
      if (predicate(screen)) return screen;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`tmux screen never matched; last screen:\n${screen}`);
  }

  /** The command's exit status, once it printed it. */
  async exitStatus(timeoutMs = 20_000): Promise<number> {
    const screen = await this.waitFor((sc) => /^EXIT=\d+$/m.test(sc), timeoutMs);
    return Number(/^EXIT=(\d+)$/m.exec(screen)![1]);
  }

  async resize(cols: number, rows: number): Promise<void> {
    await this.tmux(['resize-window', '-t', this.name, '-x', String(cols), '-y', String(rows)]);
  }

  async kill(): Promise<void> {
    await this.tmux(['kill-session', '-t', this.name]).catch(() => {});
  }
}

export { spawn };
