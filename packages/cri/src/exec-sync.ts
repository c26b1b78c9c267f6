import type { Readable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { GrpcError } from './grpc.js';
import type { CriDeps } from './deps.js';

/** What ExecSync keeps of each stream (containerd keeps 16 MiB too); the rest is read and dropped. */
export const EXEC_SYNC_LIMIT = 16 * 1024 * 1024;

/** Reads a stream to its end, keeping at most `limit` bytes (bytes as they came). */
function collect(stream: Readable, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    stream.on('data', (b: Buffer) => {
      if (size >= limit) return;
      const part = b.subarray(0, limit - size);
      parts.push(part);
      size += part.length;
    });
    stream.on('end', () => resolve(Buffer.concat(parts)));
    stream.on('close', () => resolve(Buffer.concat(parts)));
    stream.on('error', reject);
  });
}

/** ExecSync: runs the command in the container, waits (up to `timeout` seconds, 0 = no limit) and returns its output and exit code. */
export async function execSync(d: CriDeps, containerId: string, cmd: string[], timeoutSecs: number): Promise<object> {
  if (cmd.length === 0) throw new GrpcError(grpc.status.INVALID_ARGUMENT, 'exec command is empty');
  const proc = await d.runtime.exec(containerId, { args: cmd, tty: false, stdin: false });
  const out = collect(proc.stdout, EXEC_SYNC_LIMIT);
  const err = collect(proc.stderr, EXEC_SYNC_LIMIT);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    if (timeoutSecs > 0) timer = setTimeout(() => resolve('timeout'), timeoutSecs * 1000);
  });
  const result = await Promise.race([proc.exited, timedOut]);
  clearTimeout(timer);
  if (result === 'timeout') {
    await proc.kill('SIGKILL').catch(() => undefined);
    await proc.exited.catch(() => undefined);
    throw new GrpcError(grpc.status.DEADLINE_EXCEEDED, `command ${JSON.stringify(cmd.join(' '))} timed out after ${timeoutSecs}s`);
  }
  const [stdout, stderr] = await Promise.all([out, err]);
  return { stdout, stderr, exit_code: result };
}
