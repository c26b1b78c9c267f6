import { Transform, type Readable } from 'node:stream';

/** The runtimes' own failure exit status (`crun exec` / `runc exec` that could not start the process). */
export const RUNTIME_FAILED = 255;

/**
 * Docker's exit codes for an exec whose process never started, read from the runtime's
 * message as dockerd reads containerd's: 127 when the executable is missing, 126 when it
 * cannot be run. crun says "executable file `x` not found in $PATH: No such file or
 * directory" / "open executable: Permission denied"; runc 'exec: "x": executable file not
 * found in $PATH' / 'stat /x: no such file or directory' / "permission denied".
 */
export function execFailureCode(message: string): number | undefined {
  const m = message.toLowerCase();
  if (m.includes('executable file') && m.includes('not found')) return 127;
  if (/exec(utable)?\b.*no such file or directory/.test(m)) return 127;
  if (m.includes('open executable') || (m.includes('exec') && (m.includes('permission denied') || m.includes('operation not permitted')))) return 126;
  return undefined;
}

/**
 * Passes bytes through unchanged and keeps the last `limit` of them, so the runtime's error
 * message can be read after an exec failed without buffering the process's whole stderr.
 */
export class TailTap extends Transform {
  private kept = Buffer.alloc(0);

  constructor(private readonly limit = 1024) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null, data?: Buffer) => void): void {
    const joined = Buffer.concat([this.kept, chunk]);
    this.kept = joined.subarray(Math.max(0, joined.length - this.limit));
    callback(null, chunk);
  }

  tail(): string {
    return this.kept.toString('utf8');
  }
}

/** Resolves once `stream` ended, or after `ms` (a background child may hold the pipe open). */
export function endedOrAfter(stream: Readable, ms: number): Promise<void> {
  return new Promise((resolve) => {
    if (stream.readableEnded) return resolve();
    const t = setTimeout(resolve, ms);
    stream.once('end', () => {
      clearTimeout(t);
      resolve();
    });
    stream.once('close', () => {
      clearTimeout(t);
      resolve();
    });
  });
}
