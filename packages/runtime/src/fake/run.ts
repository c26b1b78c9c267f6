import type { TerminalSize } from '../spec.js';
import { ProcessExit, ProcessGone, type FakeProcess, type Pipe } from './process.js';
import type { FakeProgram } from './programs.js';

/** What a simulated process needs from its container. */
export interface RunContext {
  args: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  tty: boolean;
  stdin: Pipe | undefined;
  initArgs: string[];
  size(): TerminalSize | undefined;
  output(stream: 'stdout' | 'stderr', data: Buffer): void;
  readFile(path: string): Buffer | undefined;
  /** Resolves once the container is not paused. */
  thawed(): Promise<void>;
}

/** A simulated process in flight. */
export interface RunningProcess {
  exited: Promise<number>;
  /** Delivers a signal (number): a trap handles it, else the process dies with 128+signal. */
  kill(signal: number): void;
}

/** Starts `program` as a process; it ends when the program returns, exits, or a signal kills it. */
export function startProcess(program: FakeProgram, ctx: RunContext): RunningProcess {
  let dead = false;
  let settle!: (code: number) => void;
  const exited = new Promise<number>((r) => (settle = r));
  let goneReject!: (e: Error) => void;
  const gone = new Promise<never>((_, rej) => (goneReject = rej));
  gone.catch(() => undefined);
  const timers = new Set<NodeJS.Timeout>();
  const traps = new Map<number, () => void | Promise<void>>();

  const finish = (code: number): void => {
    if (dead) return;
    dead = true;
    for (const t of timers) clearTimeout(t);
    goneReject(new ProcessGone());
    settle(code);
  };
  const body = (f: () => Promise<number | void>): void => {
    f().then(
      (code) => {
        if (typeof code === 'number') finish(code);
      },
      (err: unknown) => {
        if (err instanceof ProcessExit) finish(err.code);
        else if (!(err instanceof ProcessGone)) {
          if (!dead) ctx.output('stderr', Buffer.from(`fake: ${err instanceof Error ? err.message : String(err)}\n`));
          finish(1);
        }
      },
    );
  };

  const write = (stream: 'stdout' | 'stderr', data: Buffer | string): void => {
    if (dead) return;
    const b = Buffer.isBuffer(data) ? data : Buffer.from(data);
    if (b.length > 0) ctx.output(ctx.tty ? 'stdout' : stream, b);
  };
  const p: FakeProcess = {
    args: ctx.args,
    env: ctx.env,
    cwd: ctx.cwd,
    uid: ctx.uid,
    gid: ctx.gid,
    tty: ctx.tty,
    stdinOpen: ctx.stdin !== undefined,
    initArgs: ctx.initArgs,
    getenv: (name) => {
      const e = ctx.env.find((x) => x.startsWith(`${name}=`));
      return e?.slice(name.length + 1);
    },
    terminalSize: () => (ctx.tty ? ctx.size() : undefined),
    stdout: (d) => write('stdout', d),
    stderr: (d) => write('stderr', d),
    read: async () => (ctx.stdin ? ctx.stdin.read(gone) : undefined),
    readLine: async () => (ctx.stdin ? ctx.stdin.readLine(gone) : undefined),
    sleep: async (seconds) => {
      await Promise.race([
        new Promise<void>((r) => {
          const t = setTimeout(() => {
            timers.delete(t);
            r();
          }, Math.max(0, seconds * 1000));
          timers.add(t);
        }),
        gone,
      ]);
      await Promise.race([ctx.thawed(), gone]);
    },
    trap: (signal, handler) => {
      traps.set(signal, handler);
    },
    exit: (code) => {
      throw new ProcessExit(code);
    },
    readFile: (path) => ctx.readFile(path),
  };
  body(() => program(p));
  return {
    exited,
    kill(signal: number): void {
      if (dead) return;
      const trap = signal === 9 ? undefined : traps.get(signal);
      if (trap) body(async () => trap());
      else finish(128 + signal);
    },
  };
}
