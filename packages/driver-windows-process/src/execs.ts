/**
 * Exec'd processes as HCS processes, and how they outlive berthd as the container does: an
 * exec the engine named (ExecSpec.id) is saved with its pid in the container's record; a
 * restarted driver opens it again by pid (HcsOpenProcess, stdio from HcsGetProcessInfo) and
 * hands it to the engine (restoredExecs). One that ended meanwhile still gives its exit
 * code (HCS keeps an exited process while its compute system runs); one whose container
 * or process is gone (a reboot; LCOW, whose processes were the GCS bridge's) gives 255.
 */
import { PassThrough, Writable, type Readable } from 'node:stream';
import { isHcsError, type HcsApi, type HcsProcess, type HcsSystem } from '@berth/hcs';
import { signalNumber, type ExecProcess, type ExecSpec, type RestoredExec } from '@berth/runtime';

/** What a container's record keeps of one exec. */
export interface SavedExec {
  id: string;
  spec: ExecSpec;
  pid: number;
}

/** An exec the driver holds: what it saves, and the handle it closes when it lets go. */
export interface HeldExec {
  saved: SavedExec;
  process: HcsProcess;
  /** Stops copying its output, which waits in its pipes for the next driver (the driver is closing). */
  detach(): void;
}

/**
 * The process' pipe as a stream of the driver's own, copied with backpressure, so that
 * the copying can stop when the driver closes whoever reads what it hands out: what the
 * process writes from then on stays in the pipe for the next owner.
 */
function handOver(source: Readable | null | undefined): { out: Readable; detach: () => void } {
  const out = new PassThrough();
  out.on('error', () => undefined);
  if (!source) return { out: out.end(), detach: () => undefined };
  let detached = false;
  const onData = (chunk: Buffer) => {
    if (!out.write(chunk)) {
      source.pause();
      out.once('drain', () => detached || source.resume());
    }
  };
  const onEnd = () => detached || out.end();
  source.on('data', onData);
  source.on('end', onEnd);
  source.on('error', onEnd);
  // a pipe the previous owner paused on detach does not flow again by itself
  source.resume();
  return {
    out,
    detach: () => {
      detached = true;
      source.off('data', onData);
      source.off('end', onEnd);
      source.pause();
    },
  };
}

export interface ExecControl {
  hcs: HcsApi;
  /** Delivers signal `n` (a number) to the process as the guest OS takes it. */
  signal(p: HcsProcess, n: number): Promise<void>;
  /** The process' stdin, whose end closes its handle in HCS too. */
  stdinOf(p: HcsProcess): Writable;
  /** Once it ended: the exit code (not called once the driver closed: the next one follows it). */
  ended(code: number): void;
  /** True once the driver closed: then its end is the next driver's news, and `exited` stays pending. */
  closed(): boolean;
}

/** Docker's exit code for a process whose end nobody can learn. */
const LOST = 255;

const alreadyStopped = (e: unknown) => {
  if (!isHcsError(e, 'HCS_E_PROCESS_ALREADY_STOPPED')) throw e;
};

/** A process' stdin whose end also tells HCS to close the handle (hcsshim CloseStdin); writes wait for `before`. */
export function hcsStdin(hcs: HcsApi, p: HcsProcess, before?: () => Promise<void>): Writable {
  const closeHandle = () => hcs.modifyProcess(p, { Operation: 'CloseHandle', CloseHandle: { Handle: 'StdIn' } }).catch(() => undefined);
  return new Writable({
    write: (chunk: Buffer, _enc, cb) => {
      void (before?.() ?? Promise.resolve()).then(() => {
        if (!p.stdin || p.stdin.destroyed) return cb();
        p.stdin.write(chunk, () => cb());
      });
    },
    final: (cb) => {
      void (before?.() ?? Promise.resolve()).then(async () => {
        p.stdin?.end();
        await closeHandle();
        cb();
      });
    },
  });
}

/** An ExecProcess over an HCS process (made by HcsCreateProcess, or opened again by pid). */
export function hcsExecProcess(ctl: ExecControl, p: HcsProcess, withStdin: boolean): ExecProcess & { detach(): void } {
  const { hcs } = ctl;
  let killSignal: number | undefined;
  const stdout = handOver(p.stdout);
  const stderr = handOver(p.stderr);
  const exited = hcs
    .waitForProcessExit(p)
    .then(
      (s) => (killSignal === 9 ? 137 : (s.ExitCode ?? LOST)),
      () => LOST,
    )
    .then((code) => (ctl.closed() ? new Promise<number>(() => undefined) : code));
  void exited.then(async (code) => {
    await hcs.closeProcess(p).catch(() => undefined);
    ctl.ended(code);
  });
  return {
    pid: p.pid,
    stdin: withStdin ? ctl.stdinOf(p) : null,
    stdout: stdout.out,
    stderr: stderr.out,
    exited,
    detach: () => {
      stdout.detach();
      stderr.detach();
    },
    resize: async (size) => {
      await hcs.modifyProcess(p, { Operation: 'ConsoleSize', ConsoleSize: { Height: size.height, Width: size.width } }).catch(alreadyStopped);
    },
    kill: async (signal = 'SIGKILL') => {
      const n = signalNumber(signal);
      killSignal = n;
      await ctl.signal(p, n).catch(alreadyStopped);
    },
  };
}

/** A saved exec whose process is gone with its container: reported ended with 255. */
function lostExec(saved: SavedExec): RestoredExec {
  return {
    id: saved.id,
    spec: saved.spec,
    process: {
      pid: saved.pid,
      stdin: null,
      stdout: new PassThrough().end(),
      stderr: new PassThrough().end(),
      exited: Promise.resolve(LOST),
      resize: async () => undefined,
      kill: async () => undefined,
    },
  };
}

/**
 * The saved execs of a container taken back: opened in `system` (absent when the
 * container did not come back running) and followed through `control(saved)`.
 */
export async function adoptExecs(hcs: HcsApi, saved: readonly SavedExec[], system: HcsSystem | undefined, control: (s: SavedExec) => ExecControl): Promise<{ restored: RestoredExec[]; held: HeldExec[] }> {
  const restored: RestoredExec[] = [];
  const held: HeldExec[] = [];
  for (const s of saved) {
    const p = system ? await hcs.openProcess(system, s.pid).catch(() => undefined) : undefined;
    const alive = p && (await hcs.getProcessProperties(p).then(() => true, () => false));
    if (!p || !alive) {
      if (p) await hcs.closeProcess(p).catch(() => undefined);
      restored.push(lostExec(s));
      continue;
    }
    const proc = hcsExecProcess(control(s), p, false);
    held.push({ saved: s, process: p, detach: proc.detach });
    restored.push({ id: s.id, spec: s.spec, process: proc });
  }
  return { restored, held };
}
