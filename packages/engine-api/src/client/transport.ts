// One request and its answer over node's http client, with every way the daemon can hang
// up (before the headers, while the body is still being sent, mid-response) ending as an
// error of the request, never as an 'error' event nobody listens to.
import type http from 'node:http';
import { Readable } from 'node:stream';
import { BerthError } from '@berth/image-format';
import { errorFromResponse } from './errors.js';

/** The connection failed before the daemon answered (refused, reset, closed). */
export class ConnectionError extends BerthError {
  /** Node's errno code (ECONNREFUSED, ECONNRESET, EPIPE...), if it had one. */
  readonly errno: string | undefined;

  constructor(message: string, cause: unknown) {
    super('Unavailable', message, { cause });
    this.errno = (cause as NodeJS.ErrnoException | undefined)?.code;
  }
}

/** Go's wording of the errnos docker prints for a failed request. */
const REASONS: Record<string, string> = {
  ECONNRESET: 'connection reset by peer',
  EPIPE: 'broken pipe',
  ECONNREFUSED: 'connection refused',
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  ETIMEDOUT: 'i/o timeout',
};

/** Docker's `error during connect: Get "http://host/v1.50/...": reason`. */
export function connectionError(method: string, url: string, err: unknown): ConnectionError {
  const e = err as NodeJS.ErrnoException;
  // node says "socket hang up" for a connection closed before any answer: Go says EOF
  const reason = e.message === 'socket hang up' ? 'EOF' : ((e.code && REASONS[e.code]) ?? e.message);
  const goMethod = method.charAt(0) + method.slice(1).toLowerCase();
  return new ConnectionError(`error during connect: ${goMethod} "${url}": ${reason}`, err);
}

/**
 * True for a response body cut short: node's http client destroys the response with
 * "aborted" (code ECONNRESET) when the connection closes before its end.
 */
export function isResponseCut(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException | undefined;
  return e instanceof Error && !(e instanceof BerthError) && e.code === 'ECONNRESET' && e.message === 'aborted';
}

/**
 * Sends `req` with `body` and resolves with the response once its status is below 400;
 * an error status rejects with the daemon's message. The daemon may answer an error
 * before it read the whole body (a bad destination for a tar) and close: the body then
 * stops (a tar child is killed), and the write error that follows (EPIPE, ECONNRESET) is
 * not what the user sees. A body that fails rejects with its own error.
 */
export function exchange(req: http.ClientRequest, body: unknown, describe: () => string): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    let answered = false;
    let bodyError: unknown;
    const stream = body instanceof Readable ? body : undefined;
    const stopBody = (): void => {
      if (!stream) return;
      stream.unpipe(req);
      if (!stream.readableEnded) stream.destroy();
    };
    req.on('error', (err) => {
      stopBody();
      if (answered) return;
      reject(bodyError ?? connectionError(req.method, describe(), err));
    });
    req.once('close', stopBody);
    req.once('response', (res) => {
      answered = true;
      const status = res.statusCode ?? 500;
      if (status < 400) {
        resolve(res);
        return;
      }
      stopBody();
      readText(res, true).then((text) => reject(errorFromResponse(status, text)), reject);
    });
    if (stream) {
      stream.on('error', (err) => {
        bodyError ??= err;
        req.destroy(err);
      });
      stream.pipe(req);
    } else if (body === undefined) {
      req.end();
    } else if (Buffer.isBuffer(body)) {
      req.end(body);
    } else {
      const text = JSON.stringify(body);
      req.setHeader('Content-Length', Buffer.byteLength(text));
      req.end(text);
    }
  });
}

/** The whole body as text; with `partial`, a body cut short gives what came (an error answer is still worth showing). */
export async function readText(res: Readable, partial = false): Promise<string> {
  const chunks: Buffer[] = [];
  try {
    for await (const c of res) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  } catch (err) {
    if (!partial) throw err;
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function drain(res: Readable): Promise<void> {
  for await (const _ of res) {
    // discard
  }
}
