import { spawn } from 'node:child_process';
import { BerthError } from '@berth/image-format';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  /** Kill the command after this many ms (default 30 s): every external call is bounded. */
  timeoutMs?: number;
}

/** Runs an argv (never a shell string) and collects its output; never throws on exit code. */
export function runCommand(file: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 30_000,
      killSignal: 'SIGKILL',
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e) => reject(new BerthError('Internal', `cannot run ${file}: ${e.message}`, { cause: e })));
    child.on('close', (code, signal) => {
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** Like runCommand, but a non-zero exit becomes an Internal BerthError carrying stderr. */
export async function runChecked(file: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  const r = await runCommand(file, args, options);
  if (r.code !== 0) {
    throw new BerthError('Internal', `${file} ${args.join(' ')} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`);
  }
  return r.stdout;
}
