// What every command gets: the daemon client (connected on first use), the output
// streams, and docker's error conventions.
import { isResponseCut, type EngineClient } from '@berth/engine-api';
import { BerthError } from '@berth/image-format';
import { chooseHost, connect, type HostChoice } from './client.js';

export interface Streams {
  stdin: NodeJS.ReadStream | NodeJS.ReadableStream;
  stdout: NodeJS.WriteStream | NodeJS.WritableStream;
  stderr: NodeJS.WriteStream | NodeJS.WritableStream;
}

/** An error that ends the command with `status` (docker's cli.StatusError). */
export class StatusError extends BerthError {
  constructor(
    readonly status: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(status === 125 ? 'InvalidArgument' : 'Internal', message, options);
  }
}

export class Context {
  private clientPromise: Promise<EngineClient> | undefined;
  readonly host: HostChoice;

  constructor(
    hostFlag: string | undefined,
    readonly io: Streams,
  ) {
    this.host = chooseHost(hostFlag);
  }

  client(): Promise<EngineClient> {
    this.clientPromise ??= connect(this.host);
    return this.clientPromise;
  }

  out(text: string): void {
    this.io.stdout.write(text);
  }

  err(text: string): void {
    this.io.stderr.write(text);
  }

  get stdoutIsTTY(): boolean {
    return Boolean((this.io.stdout as NodeJS.WriteStream).isTTY);
  }

  get stderrIsTTY(): boolean {
    return Boolean((this.io.stderr as NodeJS.WriteStream).isTTY);
  }

  get columns(): number {
    return (this.io.stdout as NodeJS.WriteStream).columns ?? 80;
  }

  async close(): Promise<void> {
    const p = this.clientPromise;
    if (!p) return;
    try {
      (await p).close();
    } catch {
      // never connected
    }
  }
}

/** True for an error the daemon sent back (it carries the HTTP status). */
export function isDaemonError(err: unknown): err is BerthError & { statusCode: number } {
  return err instanceof BerthError && typeof (err as { statusCode?: unknown }).statusCode === 'number';
}

/** The line docker prints for an error: daemon errors get their prefix, nothing prints a stack. */
export function errorMessage(err: unknown): string {
  if (isDaemonError(err)) return `Error response from daemon: ${err.message.trim()}`;
  // The daemon hung up mid-response (or a tar from it ended early): Go's words, as docker prints them.
  if (isResponseCut(err) || (err instanceof Error && err.message === 'Unexpected end of data')) return 'unexpected EOF';
  if (err instanceof Error) return err.message.trim();
  return String(err);
}

/** docker run's toStatusError: a missing command is 127, a non-executable one 126, else 125. */
export function runStatusFor(err: unknown): number {
  const msg = errorMessage(err);
  if (/executable file not found|no such file or directory|system cannot find the file specified/i.test(msg)) return 127;
  if (/permission denied|is a directory|operation not permitted/i.test(msg)) return 126;
  return 125;
}
