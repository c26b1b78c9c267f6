import type { Readable, Writable } from 'node:stream';
import type { TerminalSize } from '@berth/runtime';
import type { SpdyConnection, SpdyStream } from './spdy-connection.js';
import { headerValue } from './spdy-headers.js';

/** kubelet's exec/attach stream protocols, newest first (X-Stream-Protocol-Version). */
export const REMOTE_COMMAND_PROTOCOLS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];

/** How long the client has to open its streams after the upgrade (kubelet's default). */
export const STREAM_CREATION_TIMEOUT_MS = 30_000;

export interface RemoteCommandOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** The client's side of a session as the runner sees it. */
export interface SessionStreams {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  /** Terminal sizes as the client sends them (tty sessions of protocol v3 and later). */
  onResize(fn: (size: TerminalSize) => void): void;
  /** Resolves when the client has gone (the connection closed) before the runner finished. */
  gone: Promise<void>;
}

/** What ran: its exit code, or why it could not run. */
export type RunOutcome = { exitCode: number; command?: string[] } | { error: string };

/** The metav1.Status kubelet writes on the error stream (v4), as encoding/json marshals it. */
export function statusFor(outcome: RunOutcome): object {
  if ('error' in outcome) {
    const message = `Internal error occurred: ${outcome.error}`;
    return { metadata: {}, status: 'Failure', message, reason: 'InternalError', details: { causes: [{ message: outcome.error }] }, code: 500 };
  }
  if (outcome.exitCode === 0) return { metadata: {}, status: 'Success' };
  const what = outcome.command ? `error executing command [${outcome.command.join(' ')}], exit code ${outcome.exitCode}` : `exit code ${outcome.exitCode}`;
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: ${what}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(outcome.exitCode) }] },
  };
}

/**
 * Serves one exec or attach over an upgraded SPDY connection, as kubelet's streaming server:
 * waits for the client's error/stdin/stdout/stderr(/resize) streams (told apart by their
 * `streamType` header), hands them to `run`, then reports how it ended on the error stream —
 * v4 as a JSON metav1.Status (exit code in details.causes), v1–v3 as the error's text (nothing
 * on success) — and closes the connection.
 */
export async function serveRemoteCommand(conn: SpdyConnection, protocol: string, opts: RemoteCommandOptions, run: (s: SessionStreams) => Promise<RunOutcome>): Promise<void> {
  const resizing = opts.tty && (protocol === 'v4.channel.k8s.io' || protocol === 'v3.channel.k8s.io');
  const expected = 1 + Number(opts.stdin) + Number(opts.stdout) + Number(opts.stderr) + Number(resizing);
  const got = new Map<string, SpdyStream>();
  const gone = new Promise<void>((resolve) => conn.once('close', () => resolve()));
  const complete = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => done(false), STREAM_CREATION_TIMEOUT_MS);
    const onStream = (s: SpdyStream): void => {
      const type = headerValue(s.headers, 'streamtype') ?? '';
      if (!['error', 'stdin', 'stdout', 'stderr', 'resize'].includes(type)) {
        s.resume(); // kubelet ignores a stream of another type
        return;
      }
      got.get(type)?.destroy();
      got.set(type, s);
      if (got.size >= expected) done(true);
    };
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      conn.off('stream', onStream);
      conn.off('close', onClose);
      resolve(ok);
    };
    const onClose = (): void => done(false);
    conn.on('stream', onStream);
    conn.once('close', onClose);
  });
  if (!complete) {
    conn.close();
    return;
  }
  // later streams (none are expected) are read and dropped
  conn.on('stream', (s: SpdyStream) => s.resume());
  const error = got.get('error')!;
  error.resume(); // the client writes nothing there
  // what was not asked for is not used: a tty has no stderr
  const pick = (type: string, wanted: boolean): SpdyStream | undefined => {
    const s = got.get(type);
    if (s && !wanted) s.resume();
    return wanted ? s : undefined;
  };
  const stdin = pick('stdin', opts.stdin);
  const stdout = pick('stdout', opts.stdout);
  const stderr = pick('stderr', opts.stderr);
  const resize = got.get('resize');
  await runSession(
    {
      error,
      ...(stdin ? { stdin } : {}),
      ...(stdout ? { stdout } : {}),
      ...(stderr ? { stderr } : {}),
      ...(resize ? { resize } : {}),
      v4: protocol === 'v4.channel.k8s.io',
      gone,
      isClosed: () => conn.closed,
      close: () => conn.close(),
    },
    run,
  );
}

/** A session's channels to the client, whatever carries them (SPDY streams, WebSocket channels). */
export interface ClientChannels {
  error: Writable;
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  resize?: Readable;
  /** The error channel carries a JSON metav1.Status (v4) rather than the error's text. */
  v4: boolean;
  gone: Promise<void>;
  isClosed(): boolean;
  close(): void;
}

/** Runs the command with the client's channels, reports how it ended on the error channel, then closes. */
export async function runSession(c: ClientChannels, run: (s: SessionStreams) => Promise<RunOutcome>): Promise<void> {
  const resizeListeners: ((size: TerminalSize) => void)[] = [];
  // the client sends its size at once, likely before the process exists: the last one is kept for it
  let lastSize: TerminalSize | undefined;
  if (c.resize)
    readSizes(c.resize, (size) => {
      lastSize = size;
      resizeListeners.forEach((fn) => fn(size));
    });
  let outcome: RunOutcome;
  try {
    outcome = await run({
      ...(c.stdin ? { stdin: c.stdin } : {}),
      ...(c.stdout ? { stdout: c.stdout } : {}),
      ...(c.stderr ? { stderr: c.stderr } : {}),
      onResize: (fn) => {
        resizeListeners.push(fn);
        if (lastSize) fn(lastSize);
      },
      gone: c.gone,
    });
  } catch (e) {
    outcome = { error: (e as Error).message };
  }
  if (!c.isClosed()) {
    // all output out before the status, the status out before the connection's end
    await Promise.all([finished(c.stdout), finished(c.stderr)]);
    const report = c.v4 ? JSON.stringify(statusFor(outcome)) : 'error' in outcome ? `Internal error occurred: ${outcome.error}` : outcome.exitCode !== 0 ? (statusFor(outcome) as { message: string }).message : '';
    if (report) c.error.write(Buffer.from(report, 'utf8'));
    await finished(c.error);
  }
  c.close();
}

/** Ends a channel and waits until what was written to it has gone to the connection (or the connection went). */
function finished(w: Writable | undefined): Promise<void> {
  return new Promise((resolve) => (w ? w.end(() => resolve()) : resolve()));
}

/** The resize stream: one JSON TerminalSize ({"Width":..,"Height":..}) after another, as Go's json.Encoder writes them. */
function readSizes(s: Readable, onSize: (size: TerminalSize) => void): void {
  let text = '';
  s.on('data', (b: Buffer) => {
    text += b.toString('utf8');
    if (text.length > 64 * 1024) text = ''; // not sizes: drop rather than grow
    for (;;) {
      const end = objectEnd(text);
      if (end < 0) break;
      const obj = text.slice(0, end + 1);
      text = text.slice(end + 1);
      try {
        const v = JSON.parse(obj) as { Width?: number; Height?: number };
        if (v.Width && v.Height) onSize({ width: v.Width, height: v.Height });
      } catch {
        // a malformed size is skipped
      }
    }
  });
  s.on('error', () => undefined);
}

/** Index of the `}` closing the first JSON object in `t` (sizes hold no nested objects or strings). */
function objectEnd(t: string): number {
  const open = t.indexOf('{');
  if (open < 0) return -1;
  return t.indexOf('}', open);
}
