import { BerthError } from '@berth/image-format';
import { runProgram } from '../process/run-program.js';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  /** Kill the command after this many ms (default 30 s): every external call is bounded. */
  timeoutMs?: number;
}

/** Runs an argv (never a shell string) and collects its output; never throws on exit code. */
export async function runCommand(file: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  const r = await runProgram(file, args, { env: options.env ?? process.env, timeoutMs: options.timeoutMs ?? 30_000, input: options.input ?? '' });
  return { code: r.code, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}

/** Like runCommand, but a non-zero exit becomes an Internal BerthError carrying stderr. */
export async function runChecked(file: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  const r = await runCommand(file, args, options);
  if (r.code !== 0) {
    throw new BerthError('Internal', `${file} ${args.join(' ')} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`);
  }
  return r.stdout;
}
