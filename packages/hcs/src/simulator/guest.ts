/**
 * The simulator's guest: it runs the processes HcsCreateProcess asks for as simulated
 * programs (@berth/runtime/fake's FakeProgram: busybox-like builtins, `sh -c` of simple
 * scripts, and whatever programs the test supplies). This proves the drivers' document
 * flow, stdio plumbing and state handling; it is not Windows.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { builtinProgram, Pipe, ProcessExit, type FakeProcess, type FakeProgram } from '@berth/runtime/fake';

export interface GuestUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** busybox's root, daemon and nobody, and the two accounts of Windows base images. */
export const DEFAULT_GUEST_USERS: GuestUser[] = [
  { name: 'root', uid: 0, gid: 0, home: '/root' },
  { name: 'daemon', uid: 1, gid: 1, home: '/usr/sbin' },
  { name: 'nobody', uid: 65534, gid: 65534, home: '/nonexistent' },
  { name: 'ContainerAdministrator', uid: 0, gid: 0, home: 'C:\\Users\\ContainerAdministrator' },
  { name: 'ContainerUser', uid: 1000, gid: 1000, home: 'C:\\Users\\ContainerUser' },
];

export interface GuestOptions {
  programs?: (args: string[]) => FakeProgram | undefined;
  files?: Record<string, Buffer>;
  users?: GuestUser[];
}

/** Resolves `name`, `uid`, `uid:gid`, `name:group` against the guest's accounts; undefined when unknown. */
export function resolveGuestUser(user: string | undefined, users: GuestUser[]): GuestUser | undefined {
  if (!user) return users[0];
  const [who = '', group] = user.split(':');
  const base = users.find((u) => u.name === who) ?? (/^\d+$/.test(who) ? users.find((u) => u.uid === Number(who)) ?? { name: who, uid: Number(who), gid: Number(who), home: '/' } : undefined);
  if (!base) return undefined;
  if (group === undefined) return base;
  const gid = /^\d+$/.test(group) ? Number(group) : users.find((u) => u.name === group)?.gid;
  return gid === undefined ? undefined : { ...base, gid };
}

class Gone extends Error {}

/** What a simulated program may do to its container's files besides reading them (`(p as GuestProcessApi).files`). */
export interface GuestFiles {
  /** The container's view: its scratch, then its layers. */
  read(path: string): Buffer | undefined;
  write(path: string, data: Buffer | string): void;
  remove(path: string): void;
}

export type GuestProcessApi = FakeProcess & { files?: GuestFiles };

export interface GuestProcessSpec {
  pid: number;
  args: string[];
  env: string[];
  cwd: string;
  user: GuestUser;
  tty: boolean;
  consoleSize: { height: number; width: number } | undefined;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  /** The system's first process' argv (/proc/1/cmdline). */
  initArgs: string[];
  /** A host directory holding the container's own files (a process container's mounted scratch). */
  rootDir?: string;
  /** The container's files as its guest mounts them (an LCOW container's ext4 layers). */
  readRoot?: (path: string) => Buffer | undefined;
  /** Writes and deletes in the container's files (a process container's scratch). */
  files?: GuestFiles;
  /** Resolves when the system is not paused. */
  thawed(): Promise<void>;
}

/** A running guest process with the pipes the host sees. */
export class GuestProcess {
  readonly stdin: Writable | null;
  readonly stdout: PassThrough | null;
  readonly stderr: PassThrough | null;
  readonly exited: Promise<number>;
  exitCode: number | undefined;
  readonly startedAt = Date.now();
  private consoleSize: { height: number; width: number } | undefined;
  /** The host's stdin handle to the program: chunks in order, then the end. */
  private readonly input = new Pipe();
  private readonly traps = new Map<number, () => void | Promise<void>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private settle!: (code: number) => void;
  private goneReject!: (e: Error) => void;
  private readonly gone: Promise<never>;

  constructor(
    readonly spec: GuestProcessSpec,
    program: FakeProgram,
    private readonly options: GuestOptions,
  ) {
    this.consoleSize = spec.consoleSize;
    this.exited = new Promise<number>((r) => (this.settle = r));
    this.gone = new Promise<never>((_, rej) => (this.goneReject = rej));
    this.gone.catch(() => undefined);
    this.stdout = spec.stdout ? new PassThrough() : null;
    this.stderr = spec.stderr && !spec.tty ? new PassThrough() : null;
    const input = this.input;
    this.stdin = spec.stdin
      ? new Writable({
          write(chunk: Buffer, _enc, cb) {
            input.write(Buffer.from(chunk));
            cb();
          },
          final(cb) {
            input.end();
            cb();
          },
        })
      : null;
    if (!spec.stdin) input.end();
    this.run(() => program(this.fake()));
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  closeStdin(): void {
    this.input.end();
  }

  resize(size: { height: number; width: number }): void {
    this.consoleSize = size;
  }

  /** A signal (number): a trap handles it, else the process dies with 128+signal. */
  signal(n: number): void {
    if (!this.running) return;
    const trap = n === 9 ? undefined : this.traps.get(n);
    if (trap) this.run(async () => trap());
    else this.finish(128 + n);
  }

  /** TerminateProcess: no trap runs. */
  terminate(code: number): void {
    this.finish(code);
  }

  private finish(code: number): void {
    if (!this.running) return;
    this.exitCode = code;
    for (const t of this.timers) clearTimeout(t);
    this.goneReject(new Gone());
    this.stdout?.end();
    this.stderr?.end();
    this.settle(code);
  }

  private run(f: () => Promise<number | void>): void {
    f().then(
      (code) => {
        if (typeof code === 'number') this.finish(code);
      },
      (err: unknown) => {
        if (err instanceof ProcessExit) this.finish(err.code);
        else if (!(err instanceof Gone)) {
          this.write('stderr', `guest: ${err instanceof Error ? err.message : String(err)}\n`);
          this.finish(1);
        }
      },
    );
  }

  private write(stream: 'stdout' | 'stderr', data: Buffer | string): void {
    if (!this.running) return;
    const b = Buffer.isBuffer(data) ? data : Buffer.from(data);
    if (b.length === 0) return;
    const target = stream === 'stderr' && this.stderr ? this.stderr : this.stdout;
    target?.write(b);
  }

  private fake(): GuestProcessApi {
    const s = this.spec;
    return {
      ...(s.files ? { files: s.files } : {}),
      args: s.args,
      env: s.env,
      cwd: s.cwd,
      uid: s.user.uid,
      gid: s.user.gid,
      tty: s.tty,
      stdinOpen: s.stdin,
      initArgs: s.initArgs,
      getenv: (name) => s.env.find((x) => x.startsWith(`${name}=`))?.slice(name.length + 1),
      terminalSize: () => (s.tty ? this.consoleSize : undefined),
      stdout: (d) => this.write('stdout', d),
      stderr: (d) => this.write('stderr', d),
      read: async () => this.input.read(this.gone),
      readLine: async () => this.input.readLine(this.gone),
      sleep: async (seconds) => {
        await Promise.race([
          new Promise<void>((r) => {
            const t = setTimeout(() => {
              this.timers.delete(t);
              r();
            }, Math.max(0, seconds * 1000));
            this.timers.add(t);
          }),
          this.gone,
        ]);
        await Promise.race([s.thawed(), this.gone]);
      },
      trap: (signal, handler) => {
        this.traps.set(signal, handler);
      },
      exit: (code) => {
        throw new ProcessExit(code);
      },
      readFile: (path) => (s.files ? s.files.read(path) : fromRoot(s.rootDir, path)) ?? s.readRoot?.(path) ?? this.options.files?.[path],
    };
  }
}

/** A guest path (`/a/b`, `C:\a\b`) read from the root directory; undefined when absent or outside it. */
function fromRoot(dir: string | undefined, path: string): Buffer | undefined {
  const rel = path.replace(/^[a-z]:/i, '').replace(/\\/g, '/');
  if (dir === undefined || !rel.startsWith('/') || rel.split('/').includes('..')) return undefined;
  try {
    return readFileSync(join(dir, rel));
  } catch {
    return undefined;
  }
}

/** The program for an argv: the test's, then the builtins; otherwise "not found" (127). */
export function guestProgram(args: string[], options: GuestOptions): FakeProgram {
  return (
    options.programs?.(args) ??
    builtinProgram(args) ??
    (async (p) => {
      p.stderr(`'${args[0] ?? ''}' is not recognized as an internal or external command\n`);
      return 127;
    })
  );
}
