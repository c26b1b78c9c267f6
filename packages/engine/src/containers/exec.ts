import { PassThrough } from 'node:stream';
import { ConflictError, InvalidArgumentError, NotFoundError } from '@berth/image-format';
import type { ExecProcess, RestoredExec } from '@berth/runtime';
import type { ExecCreateBody, ExecInspect } from '../docker-types.js';
import { newId } from '../names.js';
import type { AttachSession, ExecStartOptions } from '../services.js';
import { pipeSession } from './attach.js';
import type { ContainerContext } from './context.js';
import { execDetachKeys, execSession } from './exec-session.js';
import { runtimeIdOf } from './record.js';

interface ExecRecord {
  id: string;
  containerId: string;
  body: ExecCreateBody;
  running: boolean;
  exitCode: number | null;
  process?: ExecProcess;
  /** The process' pid when the driver tells it (Pid in inspect). */
  pid?: number;
}

/**
 * `docker exec`: exec instances live in memory, as long as their container (Docker's too);
 * a driver that keeps execs across a restart hands their processes back (adopt).
 */
export class Execs {
  private readonly byId = new Map<string, ExecRecord>();

  constructor(private readonly ctx: ContainerContext) {}

  async create(ref: string, body: ExecCreateBody): Promise<{ Id: string }> {
    const r = this.ctx.table.resolve(ref);
    if (r.state.status === 'paused') throw new ConflictError(`Container ${r.id} is paused, unpause the container before exec`);
    if (r.state.status !== 'running') throw new ConflictError(`Container ${r.id} is not running`);
    if (!body?.Cmd || body.Cmd.length === 0) throw new InvalidArgumentError('No exec command specified');
    if (body.DetachKeys) execDetachKeys(body.DetachKeys);
    const id = newId();
    this.byId.set(id, { id, containerId: r.id, body, running: false, exitCode: null });
    this.ctx.emit(r, `exec_create: ${body.Cmd.join(' ')}`, { execID: id });
    return { Id: id };
  }

  async start(execId: string, opts: ExecStartOptions = {}): Promise<AttachSession | undefined> {
    const e = this.get(execId);
    if (e.running || e.exitCode !== null) throw new ConflictError(`exec ${execId} has already been started`);
    const r = this.ctx.table.resolve(e.containerId);
    if (r.state.status !== 'running') throw new ConflictError(`Container ${r.id} is not running`);
    const tty = e.body.Tty ?? false;
    await opts.beforeStart?.();
    const cwd = e.body.WorkingDir || r.config.WorkingDir;
    const user = e.body.User || r.config.User;
    const proc = await this.ctx.driver
      .exec(runtimeIdOf(r), {
        args: e.body.Cmd,
        env: [...(r.config.Env ?? []), ...(e.body.Env ?? [])],
        ...(cwd ? { cwd } : {}),
        ...(user ? { user } : {}),
        tty,
        stdin: !!e.body.AttachStdin && !opts.detach,
        id: e.id,
      })
      .catch((err: unknown) => {
        // Docker's code for a process that could not be started at all
        e.exitCode = 126;
        throw err;
      });
    e.running = true;
    e.process = proc;
    if (proc.pid !== undefined) e.pid = proc.pid;
    this.ctx.emit(r, `exec_start: ${e.body.Cmd.join(' ')}`, { execID: e.id });
    const output = new PassThrough({ objectMode: true });
    const piped = opts.detach
      ? undefined
      : pipeSession(proc, () => proc.stdin?.end(), output, tty, e.body.AttachStdout ?? true, e.body.AttachStderr ?? true, true);
    const session = piped && execSession(piped, { terminal: tty, raw: opts.tty ?? tty, detachKeys: e.body.DetachKeys, endOutput: () => output.writableEnded || output.end() });
    if (opts.detach) {
      proc.stdout.resume();
      proc.stderr.resume();
    }
    this.follow(e, proc);
    return session;
  }

  /**
   * Execs of a container the driver took back after a restart: running again as they
   * were started (their output, which no client reads any more, is drained), or ended.
   */
  adopt(containerId: string, restored: RestoredExec[]): void {
    for (const x of restored) {
      if (this.byId.has(x.id)) continue;
      const s = x.spec;
      const body: ExecCreateBody = { Cmd: s.args, Tty: !!s.tty, AttachStdin: false, AttachStdout: false, AttachStderr: false, ...(s.user !== undefined ? { User: typeof s.user === 'object' ? `${s.user.uid}:${s.user.gid}` : s.user } : {}), ...(s.cwd ? { WorkingDir: s.cwd } : {}) };
      const e: ExecRecord = { id: x.id, containerId, body, running: true, exitCode: null, process: x.process, ...(x.process.pid !== undefined ? { pid: x.process.pid } : {}) };
      this.byId.set(e.id, e);
      x.process.stdout.on('error', () => undefined).resume();
      x.process.stderr.on('error', () => undefined).resume();
      this.follow(e, x.process);
    }
  }

  private follow(e: ExecRecord, proc: ExecProcess): void {
    void proc.exited.then(
      (code) => {
        e.running = false;
        e.exitCode = code;
        // a closed engine's database is closed too (a driver that keeps execs hands this one to the next)
        if (this.ctx.closed) return;
        const cur = this.ctx.table.get(e.containerId);
        if (cur) this.ctx.emit(cur, 'exec_die', { execID: e.id, exitCode: String(code) });
      },
      () => {
        e.running = false;
        e.exitCode = -1;
      },
    );
  }

  async inspect(execId: string): Promise<ExecInspect> {
    const e = this.get(execId);
    const [entrypoint = '', ...args] = e.body.Cmd;
    return {
      CanRemove: false,
      // Docker shows the parsed key bytes, base64 (its []byte field), '' when none were given.
      DetachKeys: e.body.DetachKeys ? Buffer.from(execDetachKeys(e.body.DetachKeys)).toString('base64') : '',
      ID: e.id,
      Running: e.running,
      ExitCode: e.exitCode,
      ProcessConfig: { privileged: e.body.Privileged ?? false, user: e.body.User ?? '', tty: e.body.Tty ?? false, entrypoint, arguments: args },
      OpenStdin: e.body.AttachStdin ?? false,
      OpenStderr: e.body.AttachStderr ?? false,
      OpenStdout: e.body.AttachStdout ?? false,
      ContainerID: e.containerId,
      // 0 when the driver keeps its pids to itself
      Pid: e.pid ?? 0,
    };
  }

  async resize(execId: string, size: { h: number; w: number }): Promise<void> {
    const e = this.get(execId);
    // Clients resize as soon as the stream is open, before the process has started: wait
    // for it, as Docker does (up to 10 s).
    for (let i = 0; !e.process && e.exitCode === null && i < 1000; i++) await new Promise((r) => setTimeout(r, 10));
    await e.process?.resize({ height: size.h, width: size.w });
  }

  /** The exec IDs of a container, as inspect's ExecIDs. */
  idsOf(containerId: string): string[] {
    return [...this.byId.values()].filter((e) => e.containerId === containerId).map((e) => e.id);
  }

  /** A removed container's execs go with it. */
  forget(containerId: string): void {
    for (const e of [...this.byId.values()]) if (e.containerId === containerId) this.byId.delete(e.id);
  }

  private get(execId: string): ExecRecord {
    const e = this.byId.get(execId);
    if (!e) throw new NotFoundError(`No such exec instance: ${execId}`);
    return e;
  }
}
