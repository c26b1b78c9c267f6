import type { TerminalSize } from '../spec.js';

/** Thrown inside a program's awaits once its process is gone; the driver swallows it. */
export class ProcessGone extends Error {
  constructor() {
    super('process gone');
  }
}

/**
 * What a simulated program sees: its argv, env, user, terminal, stdio and the clock. A
 * program is an async function returning its exit code; it ends early when a signal it
 * does not trap arrives (its awaits then throw ProcessGone and its writes go nowhere).
 */
export interface FakeProcess {
  readonly args: string[];
  /** `KEY=value`, image env then the container's, with PATH and HOME filled in. */
  readonly env: string[];
  readonly cwd: string;
  readonly uid: number;
  readonly gid: number;
  readonly tty: boolean;
  /** Whether stdin is connected (a tty or `stdin` asked for). */
  readonly stdinOpen: boolean;
  /** The container's main process argv (what /proc/1/cmdline shows). */
  readonly initArgs: string[];
  getenv(name: string): string | undefined;
  terminalSize(): TerminalSize | undefined;
  stdout(data: Buffer | string): void;
  stderr(data: Buffer | string): void;
  /** The next chunk of stdin, or undefined at its end. */
  read(): Promise<Buffer | undefined>;
  /** Up to and without the next newline; undefined at the end of stdin. */
  readLine(): Promise<string | undefined>;
  /** Waits (a paused container's clock stands still: the wait ends only after unpause). */
  sleep(seconds: number): Promise<void>;
  /** Traps a signal (number): the handler runs instead of the default death; SIGKILL cannot be trapped. */
  trap(signal: number, handler: () => void | Promise<void>): void;
  /** Ends the process with this code (from a trap handler, say). */
  exit(code: number): never;
  /** A file of the container's filesystem, or undefined. */
  readFile(path: string): Buffer | undefined;
}

/** Ends the program with a code (thrown by exit()). */
export class ProcessExit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** An in-memory pipe: chunks written in, read() out in order; end() closes it. */
export class Pipe {
  private chunks: Buffer[] = [];
  private ended = false;
  private waiter: (() => void) | undefined;
  private carry = Buffer.alloc(0);

  write(b: Buffer): void {
    if (this.ended) return;
    this.chunks.push(b);
    this.wake();
  }

  end(): void {
    this.ended = true;
    this.wake();
  }

  get isEnded(): boolean {
    return this.ended;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  async read(gone: Promise<never>): Promise<Buffer | undefined> {
    if (this.carry.length > 0) {
      const c = this.carry;
      this.carry = Buffer.alloc(0);
      return c;
    }
    while (this.chunks.length === 0 && !this.ended) {
      await Promise.race([new Promise<void>((r) => (this.waiter = r)), gone]);
    }
    return this.chunks.shift();
  }

  async readLine(gone: Promise<never>): Promise<string | undefined> {
    let acc = Buffer.alloc(0);
    for (;;) {
      const nl = acc.indexOf(0x0a);
      if (nl >= 0) {
        this.carry = Buffer.concat([acc.subarray(nl + 1), this.carry]);
        return acc.subarray(0, nl).toString();
      }
      const c = await this.read(gone);
      if (c === undefined) return acc.length > 0 ? acc.toString() : undefined;
      acc = Buffer.concat([acc, c]);
    }
  }
}
