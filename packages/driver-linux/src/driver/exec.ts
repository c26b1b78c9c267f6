import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { ConflictError, InvalidArgumentError, UnsupportedError } from '@berth/image-format';
import { signalNumber, type ExecProcess, type ExecSpec, type TerminalSize } from '@berth/runtime';
import { isFrozen } from '../cgroups/freezer.js';
import { writeWithBackpressure } from '../conmon/container-logs.js';
import { readK8sLog } from '../conmon/k8s-log.js';
import { launchConmon } from '../conmon/launch.js';
import { mergeEnv, type OciConfig } from '../oci/config.js';
import { endedOrAfter, execFailureCode, RUNTIME_FAILED, TailTap } from '../process/exec-failure.js';
import { resolveUser } from '../user/resolve-user.js';
import type { DriverContext } from './context.js';
import { pidAlive, type ContainerRecord } from './records.js';

/**
 * Runs a process in a running container: the container's process spec (config.json)
 * with the exec's args, env, cwd and user, given to the runtime's exec.
 */
export async function execInContainer(ctx: DriverContext, id: string, spec: ExecSpec): Promise<ExecProcess> {
  const rec = await ctx.records.current(id);
  if (rec.status !== 'running') throw new ConflictError(`container ${id} is not running`);
  if (rec.pause) throw new UnsupportedError(`container ${id} holds a pod's namespaces with a pause process: it has nothing to exec in`);
  if (await isFrozen(ctx.cgroups, rec.cgroupsPath)) throw new ConflictError(`container ${id} is paused: unpause it first`);
  if (spec.args.length === 0) throw new InvalidArgumentError('exec args must not be empty');
  const config = JSON.parse(await readFile(join(rec.bundle, 'config.json'), 'utf8')) as OciConfig;
  const user = spec.user !== undefined ? await resolveUser(rec.rootfs, spec.user) : undefined;
  const home = user?.home ?? rec.env.find((e) => e.startsWith('HOME='))?.slice(5) ?? '/';
  const env = mergeEnv(rec.env, spec.env, home);
  const proc = {
    ...config.process,
    terminal: spec.tty === true,
    args: spec.args,
    env,
    cwd: spec.cwd || config.process.cwd,
    user: user ? { uid: user.uid, gid: user.gid, ...(user.additionalGids.length ? { additionalGids: user.additionalGids } : {}) } : config.process.user,
  } as Record<string, unknown>;
  if (spec.tty && spec.terminalSize) proc.consoleSize = spec.terminalSize;
  else delete proc.consoleSize;
  const execDir = join(rec.bundle, 'exec');
  await mkdir(execDir, { recursive: true });
  const procFile = join(execDir, `${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(procFile, JSON.stringify(proc));
  if (spec.tty) return execTty(ctx, id, rec, procFile, spec);
  // the pid file names the process inside: killing the runtime's exec alone leaves it running
  const pidFile = procFile.replace(/\.json$/, '.pid');
  const child = spawn(ctx.runtime.wrapper, ['exec', '--pid-file', pidFile, '--process', procFile, id], {
    stdio: [spec.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  return execProcess(child, procFile, null, undefined, pidFile);
}

function execProcess(child: ChildProcess, procFile: string, onResize: ((s: TerminalSize) => Promise<void>) | null, stdoutOverride?: Readable, pidFile?: string): ExecProcess {
  // The runtime reports a process it could not start on the exec's stderr.
  const tap = stdoutOverride ? undefined : (child.stderr as Readable).pipe(new TailTap());
  (child.stderr as Readable | null)?.on('error', (err) => tap?.destroy(err));
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    // 'exit', not 'close': background children may hold the output pipes open
    child.on('exit', (code, sig) => {
      void rm(procFile, { force: true });
      if (pidFile) void rm(pidFile, { force: true });
      const status = code ?? 128 + (sig ? signalNumber(sig) : 0);
      if (status !== RUNTIME_FAILED || !tap) return resolve(status);
      void endedOrAfter(child.stderr as Readable, 200).then(() => resolve(execFailureCode(tap.tail()) ?? status));
    });
  });
  return {
    stdin: child.stdin ?? null,
    stdout: stdoutOverride ?? (child.stdout as Readable),
    stderr: tap ?? new PassThrough().end(),
    exited,
    resize: async (size) => {
      if (onResize) await onResize(size);
    },
    kill: async (signal = 'SIGKILL') => {
      const n = signalNumber(signal);
      const pid = pidFile ? Number.parseInt(await readFile(pidFile, 'utf8').catch(() => ''), 10) : NaN;
      const running = (): boolean => child.exitCode === null && child.signalCode === null;
      if (pid > 0 && running()) {
        try {
          process.kill(pid, n);
          // the runtime's exec is its parent: let it reap it (no zombie left in the container) and exit
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, 2000);
            child.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
          });
        } catch {
          // already gone
        }
      }
      if (running()) child.kill(n);
    },
  };
}

/**
 * A tty exec runs under its own conmon (exec mode), which receives the pty from the
 * runtime through its console socket. Output is read from the exec's log, input goes
 * through its attach socket, resize through its ctl fifo, the exit code from its exit dir.
 */
async function execTty(ctx: DriverContext, id: string, rec: ContainerRecord, procFile: string, spec: ExecSpec): Promise<ExecProcess> {
  const execId = `${id}.x${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const dir = join(rec.bundle, 'exec', execId);
  const exitDir = join(dir, 'exits');
  await mkdir(exitDir, { recursive: true });
  await mkdir(join(dir, 'persist'));
  const logPath = join(dir, 'exec.log');
  const started = await launchConmon({
    conmonPath: ctx.conmonPath,
    runtime: ctx.runtime,
    id,
    uuid: execId,
    bundle: dir,
    logPath,
    exitDir,
    socketDir: ctx.socketDir,
    persistDir: join(dir, 'persist'),
    tty: true,
    stdin: spec.stdin === true,
    execProcessSpec: procFile,
  });
  const exitFile = join(exitDir, id);
  const exitCode = async (): Promise<number | undefined> => {
    const text = await readFile(exitFile, 'utf8').catch(() => '');
    return text.trim() === '' ? undefined : Number(text.trim());
  };
  const stdout = new PassThrough();
  let stdinBridge: ChildProcess | undefined;
  const exited = (async () => {
    let code: number | undefined;
    for await (const e of readK8sLog([logPath], {
      follow: { keepGoing: async () => (code = await exitCode()) === undefined && pidAlive(started.conmonPid), pollMs: 20 },
    })) {
      await writeWithBackpressure(stdout, e.data);
    }
    stdout.end();
    code ??= await exitCode();
    stdinBridge?.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
    await rm(join(ctx.socketDir, execId), { force: true });
    await rm(procFile, { force: true });
    return code ?? 255;
  })();
  let stdin: Writable | null = null;
  if (spec.stdin) {
    const bridge = spawn('perl', [ctx.bridgeScript, join(ctx.socketDir, execId, 'attach')], { stdio: ['pipe', 'ignore', 'ignore'] });
    stdinBridge = bridge;
    bridge.on('error', () => undefined);
    stdin = bridge.stdin;
  }
  return {
    stdin,
    stdout,
    stderr: new PassThrough().end(),
    exited,
    resize: async (size) => {
      await writeFile(join(dir, 'ctl'), `1 ${Math.floor(size.height)} ${Math.floor(size.width)}\n`, { flag: 'a' }).catch(() => undefined);
    },
    kill: async (signal = 'SIGKILL') => {
      if (pidAlive(started.pid)) process.kill(started.pid, signalNumber(signal));
    },
  };
}
