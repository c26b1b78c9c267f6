import type { CriDeps } from '../deps.js';
import { pump } from './pump.js';
import type { RunOutcome, SessionStreams } from './remote-command.js';

/**
 * Exec for the streaming server: the engine's exec as ExecSync runs it, with the client's
 * streams plugged in as bytes, terminal resizes passed on, and the exit code once the output
 * has been sent. A client that leaves first takes the process with it (SIGKILL), as containerd
 * does when the request ends.
 */
export async function runExec(d: CriDeps, id: string, cmd: string[], tty: boolean, s: SessionStreams): Promise<RunOutcome> {
  if (cmd.length === 0) return { error: 'exec command is empty' };
  const proc = await d.runtime.exec(id, { args: cmd, tty, stdin: !!s.stdin });
  proc.stdout.on('error', () => undefined);
  proc.stderr.on('error', () => undefined);
  proc.stdin?.on('error', () => undefined);
  s.onResize((size) => void proc.resize(size).catch(() => undefined));
  if (s.stdin && proc.stdin) void pump(s.stdin, proc.stdin);
  const out = [s.stdout ? pump(proc.stdout, s.stdout, false) : drain(proc.stdout), s.stderr ? pump(proc.stderr, s.stderr, false) : drain(proc.stderr)];
  let left = false;
  void s.gone.then(() => {
    left = true;
    void proc.kill('SIGKILL').catch(() => undefined);
  });
  const exitCode = await proc.exited;
  if (!left) await Promise.race([Promise.all(out), s.gone]);
  return { exitCode, command: cmd };
}

/**
 * Attach: the container's main process streams through the runtime driver. Ends when its
 * output ends (the container stopped) or the client leaves; the client's end of input is
 * passed on, and the driver closes the process' stdin only for a StdinOnce container.
 */
export async function runAttach(d: CriDeps, id: string, s: SessionStreams): Promise<RunOutcome> {
  const stdio = await d.runtime.attach(id, { stdin: !!s.stdin, stdout: !!s.stdout, stderr: !!s.stderr });
  stdio.stdout.on('error', () => undefined);
  stdio.stderr.on('error', () => undefined);
  stdio.stdin?.on('error', () => undefined);
  s.onResize((size) => void d.runtime.resize(id, size).catch(() => undefined));
  if (s.stdin && stdio.stdin) void pump(s.stdin, stdio.stdin);
  const out = Promise.all([s.stdout ? pump(stdio.stdout, s.stdout, false) : drain(stdio.stdout), s.stderr ? pump(stdio.stderr, s.stderr, false) : drain(stdio.stderr)]);
  await Promise.race([out, s.gone]);
  stdio.close();
  return { exitCode: 0 };
}

/** Reads and drops a stream nobody asked for, so the process never blocks on it. */
function drain(r: NodeJS.ReadableStream & { on(ev: string, fn: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => {
    r.on('end', resolve);
    r.on('close', resolve);
    r.on('error', resolve);
    r.resume();
  });
}
