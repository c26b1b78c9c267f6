import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { BerthError } from '@berth/image-format';
import type { OciRuntime } from '../oci/runtime.js';
import { startWithSyncPipe } from '../process/run-program.js';

class ConmonError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('Internal', message, options);
    this.name = 'ConmonError';
  }
}

interface ConmonLaunch {
  conmonPath: string;
  runtime: OciRuntime;
  id: string;
  /** conmon's session id (attach socket name); default `id`. Distinct for execs. */
  uuid?: string;
  bundle: string;
  logPath: string;
  exitDir: string;
  socketDir: string;
  persistDir: string;
  tty: boolean;
  stdin: boolean;
  /** stdin survives an attached client's disconnect (conmon --leave-stdin-open). */
  leaveStdinOpen?: boolean;
  timeoutMs?: number;
  /** Exec mode: run this process.json in the existing container `id`. */
  execProcessSpec?: string;
}

interface ConmonStarted {
  /** Host pid of the container's init (created, not yet started). */
  pid: number;
  conmonPid: number;
}

/**
 * Starts conmon, which runs `runtime create` and then monitors the container on its
 * own (it daemonizes, so the container outlives this process). Resolves once the
 * container exists, with the pid conmon reports on the sync pipe (`{"data": pid}`,
 * negative with a message on failure).
 */
export async function launchConmon(o: ConmonLaunch): Promise<ConmonStarted> {
  const args = [
    '--api-version', '1',
    '-c', o.id,
    '-u', o.uuid ?? o.id,
    '-n', o.id,
    '-r', o.runtime.wrapper,
    '-b', o.bundle,
    '-p', join(o.bundle, 'pidfile'),
    '-P', join(o.bundle, 'conmon.pid'),
    '--exit-dir', o.exitDir,
    '-l', `k8s-file:${o.logPath}`,
    '--socket-dir-path', o.socketDir,
    '-0', o.persistDir,
    '--log-level', 'error',
    // conmon would sync() every filesystem at exit; the log is flushed by close anyway
    '--no-sync-log',
  ];
  if (o.execProcessSpec) args.push('-e', '--exec-process-spec', o.execProcessSpec);
  if (o.tty) args.push('-t');
  if (o.stdin) args.push('-i');
  if (o.stdin && o.leaveStdinOpen) args.push('--leave-stdin-open');
  const timeoutMs = o.timeoutMs ?? 30_000;
  const env = { ...process.env, _OCI_SYNCPIPE: '3' };
  const viaHelper = startWithSyncPipe(o.conmonPath, args, { cwd: o.bundle, env, timeoutMs });
  const { message, stderr } = viaHelper
    ? await viaHelper.catch((err: unknown) => {
        throw new ConmonError(`cannot run conmon: ${(err as Error).message}`, { cause: err });
      })
    : await spawnConmon(o.conmonPath, args, o.bundle, env, timeoutMs);
  return conmonStarted(o, message, stderr);
}

/** Without the spawn helper: conmon as our own (detached) child. */
async function spawnConmon(file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ message: string; stderr: string }> {
  const child = spawn(file, args, {
    cwd,
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    env,
  });
  const stderr: Buffer[] = [];
  child.stderr?.on('data', (c: Buffer) => stderr.push(c));
  const sync = child.stdio[3] as Readable;
  const message = await new Promise<string>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new ConmonError(`conmon did not report within ${timeoutMs} ms`)), timeoutMs);
    sync.on('data', (c: Buffer) => {
      text += c.toString('utf8');
      // conmon may keep the pipe open; the first complete message is the answer
      if (/"data"\s*:\s*-?\d+[^\n]*\n/.test(text) || /\}\s*$/.test(text)) {
        clearTimeout(timer);
        resolve(text);
      }
    });
    sync.on('error', () => undefined);
    sync.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new ConmonError(`cannot run conmon: ${err.message}`, { cause: err }));
    });
  });
  child.unref();
  child.stderr?.destroy();
  // conmon keeps the sync pipe open while it runs; holding our end would keep this process alive
  sync.destroy();
  return { message, stderr: Buffer.concat(stderr).toString('utf8') };
}

async function conmonStarted(o: ConmonLaunch, message: string, stderr: string): Promise<ConmonStarted> {
  let pid: number | undefined;
  let detail = '';
  for (const line of message.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const parsed = JSON.parse(line) as { data?: number; message?: string };
      // the first message is the pid; a quick exec's exit status ({"data": 0}) can follow in the same read
      if (typeof parsed.data === 'number') pid ??= parsed.data;
      if (parsed.message) detail = parsed.message;
    } catch {
      detail = line;
    }
  }
  if (pid === undefined || pid <= 0) {
    const err = stderr.trim();
    throw new ConmonError(`creating the container failed: ${detail || err || 'conmon exited without a pid'}`);
  }
  const conmonPid = Number((await readFile(join(o.bundle, 'conmon.pid'), 'utf8')).trim());
  return { pid, conmonPid };
}
