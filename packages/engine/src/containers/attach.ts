import { PassThrough, type Readable, type Writable } from 'node:stream';
import { ConflictError } from '@berth/image-format';
import { DEFAULT_DETACH_KEYS, parseDetachKeys } from '@berth/engine-api';
import type { OutputChunk } from '../docker-types.js';
import { readLogs } from '../logs.js';
import type { AttachOptions, AttachSession, LogsOptions } from '../services.js';
import { isRunning, type ContainerContext } from './context.js';
import { withDetachKeys } from './detach-keys.js';
import { assertLogsReadable } from './log-config.js';
import { runtimeIdOf, type ContainerRecord } from './record.js';

/** A process' stdio as the driver hands it out (attach or exec). */
export interface DriverStdio {
  stdin: Writable | null;
  stdout: Readable;
  /** Ends at once for a TTY (the terminal merges both streams on stdout). */
  stderr: Readable;
}

interface PendingAttach {
  output: PassThrough;
  closed: boolean;
  inner?: AttachSession;
  connect(runtimeId: string): Promise<void>;
}

/** `docker logs` and `docker attach`: the log replay and the live streams of the container's process. */
export class AttachSessions {
  /** Sessions of `docker run` made before the start: connected between the driver's create and start. */
  private readonly pending = new Map<string, Set<PendingAttach>>();

  constructor(private readonly ctx: ContainerContext) {}

  async logs(ref: string, opts: LogsOptions = {}): Promise<Readable> {
    const r = this.ctx.table.resolve(ref);
    assertLogsReadable(r);
    return readLogs(this.ctx.driver, r.runtimeCreated ? runtimeIdOf(r) : undefined, opts);
  }

  async attach(ref: string, opts: AttachOptions = {}): Promise<AttachSession> {
    const keys = parseDetachKeys(opts.detachKeys || DEFAULT_DETACH_KEYS);
    return withDetachKeys(await this.streams(ref, opts), keys);
  }

  async resize(ref: string, size: { h: number; w: number }): Promise<void> {
    const r = this.ctx.table.resolve(ref);
    if (r.state.status !== 'running') throw new ConflictError(`Container ${r.id} is not running`);
    await this.ctx.driver.resize(runtimeIdOf(r), { height: size.h, width: size.w });
  }

  private async streams(ref: string, opts: AttachOptions): Promise<AttachSession> {
    const r = this.ctx.table.resolve(ref);
    const tty = r.config.Tty ?? false;
    const output = new PassThrough({ objectMode: true });
    const wantOut = opts.stdout ?? true;
    const wantErr = opts.stderr ?? true;
    if (opts.logs) {
      const replay = await this.logs(r.id, { stdout: wantOut, stderr: wantErr });
      for await (const c of replay) output.write(c);
    }
    if (!opts.stream) {
      output.end();
      return { tty, output, close: () => output.end() };
    }
    // Not started yet (docker run attaches before start): attach once it starts.
    if (!isRunning(r)) return this.whenStarted(r, opts, output, tty);
    const stdio = await this.ctx.driver.attach(runtimeIdOf(r), { stdin: !!opts.stdin && !!r.config.OpenStdin, stdout: true, stderr: true });
    return pipeSession(stdio, () => stdio.close(), output, tty, wantOut, wantErr, r.config.StdinOnce ?? false);
  }

  /**
   * The session is connected to the driver between create and start of the next run
   * (see Lifecycle.launch), so not a byte of a short process is lost.
   */
  private whenStarted(r: ContainerRecord, opts: AttachOptions, output: PassThrough, tty: boolean): AttachSession {
    const stdin = opts.stdin && r.config.OpenStdin ? new PassThrough() : undefined;
    const pending: PendingAttach = {
      output,
      closed: false,
      connect: async (runtimeId: string) => {
        if (pending.closed) return;
        const stdio = await this.ctx.driver.attach(runtimeId, { stdin: !!stdin, stdout: true, stderr: true });
        pending.inner = pipeSession(stdio, () => stdio.close(), output, tty, opts.stdout ?? true, opts.stderr ?? true, r.config.StdinOnce ?? false);
        if (stdin && pending.inner.stdin) stdin.pipe(pending.inner.stdin);
      },
    };
    let set = this.pending.get(r.id);
    if (!set) this.pending.set(r.id, (set = new Set()));
    set.add(pending);
    return {
      tty,
      ...(stdin ? { stdin } : {}),
      output,
      close: () => {
        pending.closed = true;
        this.pending.get(r.id)?.delete(pending);
        pending.inner?.close();
        if (!output.writableEnded) output.end();
      },
    };
  }

  /** Connects the sessions waiting for this run (between the driver's create and start). */
  async connectPending(r: ContainerRecord): Promise<void> {
    const set = this.pending.get(r.id);
    if (!set) return;
    this.pending.delete(r.id);
    await Promise.all(
      [...set].map((p) =>
        p.connect(runtimeIdOf(r)).catch(() => {
          if (!p.output.writableEnded) p.output.end();
        }),
      ),
    );
  }

  /** Ends the sessions still waiting for a run that will not come. */
  endPending(id: string): void {
    const set = this.pending.get(id);
    if (!set) return;
    this.pending.delete(id);
    for (const p of set) if (!p.output.writableEnded) p.output.end();
  }
}

/**
 * A session over a process' stdio: output as OutputChunks (bytes untouched), ending once
 * both streams have. `stdinOnce`: the client's end of input closes the process' stdin.
 */
export function pipeSession(h: DriverStdio, close: () => void, output: PassThrough, tty: boolean, wantOut: boolean, wantErr: boolean, stdinOnce: boolean): AttachSession {
  let open = 2;
  const done = (): void => {
    if (--open === 0) output.end();
  };
  const forward = (src: Readable, stream: 'stdout' | 'stderr', want: boolean): void => {
    src.on('data', (data: Buffer) => {
      if (want && !output.writableEnded) output.write({ stream, data } satisfies OutputChunk);
    });
    src.on('end', done);
    src.on('close', () => {
      if (!src.readableEnded) done();
    });
    src.on('error', () => undefined);
  };
  forward(h.stdout, 'stdout', wantOut);
  forward(h.stderr, 'stderr', tty ? wantOut : wantErr);
  let stdin = h.stdin ?? undefined;
  if (stdin && stdinOnce) {
    const wrapped = new PassThrough();
    wrapped.pipe(stdin);
    stdin = wrapped;
  }
  return {
    tty,
    ...(stdin ? { stdin } : {}),
    output,
    close: () => {
      close();
      if (!output.writableEnded) output.end();
    },
  };
}
