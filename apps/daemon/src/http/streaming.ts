import type { Readable, Writable } from 'node:stream';
import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { MULTIPLEXED_STREAM, RAW_STREAM, StreamType, encodeFrame, jsonLine, readFirstChunk, statusForError } from '@berth/engine-api';
import type { AttachSession, OutputChunk } from '../engine-port.js';
import { atLeast } from './api-version.js';
import { commonHeaderLines } from './headers.js';
import { upgradeSocket } from './listeners.js';

/**
 * Runs `fn` once the response is closed (the client went away, or it ended), or now if it
 * already is: a client may hang up while a route still prepares its stream, and that
 * stream (a tar child, a mounted snapshot, an attach session) must not outlive it.
 */
export function onClosed(res: Writable, fn: () => void): void {
  if (res.closed || res.destroyed) fn();
  else res.once('close', fn);
}

/**
 * Resolves when `dest` can take more, or will never again (closed, failed: the client hung
 * up). Every listener goes once one fires: `once()` of each would leave the others behind
 * per wait, thousands for a big log.
 */
function writable(dest: Writable): Promise<void> {
  if (dest.destroyed || dest.writableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      dest.off('drain', done);
      dest.off('close', done);
      dest.off('error', done);
      resolve();
    };
    dest.on('drain', done);
    dest.on('close', done);
    dest.on('error', done);
  });
}

/**
 * A JSON-lines response (pull, push, load, import, events, stats). Headers go out with
 * the first message (or at once with `eager`), so an error before any output is still an
 * ordinary error response with its status, as Docker's write flusher does.
 */
export class JsonStream {
  private started = false;
  private ended = false;
  readonly aborted: AbortController = new AbortController();

  constructor(
    private readonly reply: FastifyReply,
    eager = false,
  ) {
    onClosed(reply.raw, () => {
      if (!this.ended) this.aborted.abort();
    });
    if (eager) this.begin();
  }

  get headersSent(): boolean {
    return this.started;
  }

  private begin(): void {
    if (this.started) return;
    this.started = true;
    this.reply.hijack();
    const res = this.reply.raw;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
  }

  write(message: unknown): boolean {
    if (this.ended || this.reply.raw.destroyed) return false;
    this.begin();
    return this.reply.raw.write(jsonLine(message));
  }

  /** Ends the stream; an error after the headers becomes Docker's `{"errorDetail":...,"error":...}` line. */
  end(err?: unknown): void {
    if (err !== undefined && !this.started) throw err;
    if (err !== undefined) {
      const message = err instanceof Error ? err.message : String(err);
      this.write({ errorDetail: { code: statusForError(err), message }, error: message });
    }
    this.begin();
    this.ended = true;
    this.reply.raw.end();
  }
}

/**
 * Writes the object-mode OutputChunk stream to `dest`: framed unless `tty`, prefixed with
 * timestamps if asked. Chunks already waiting go out in one write of up to 64 KiB (a big
 * log is thousands of lines a second); a lone chunk (interactive output) goes at once.
 */
export async function pipeOutput(output: Readable, dest: Writable, opts: { tty: boolean; timestamps?: boolean }): Promise<void> {
  let batch: Buffer[] = [];
  let size = 0;
  const flush = async (): Promise<void> => {
    const data = batch.length === 1 ? batch[0]! : Buffer.concat(batch, size);
    batch = [];
    size = 0;
    // a client that hangs up ends the copy (the loop sees `destroyed`): not a failure
    if (!dest.write(data)) await writable(dest);
  };
  const clientGone = (): boolean => dest.destroyed || dest.writableEnded;
  try {
    for await (const item of output) {
      if (clientGone()) return;
      const chunk = item as OutputChunk;
      let data = chunk.data;
      if (opts.timestamps && chunk.timestamp) data = Buffer.concat([Buffer.from(dockerTimestamp(chunk.timestamp) + ' '), data]);
      const framed = opts.tty ? data : encodeFrame(chunk.stream === 'stderr' ? StreamType.stderr : StreamType.stdout, data);
      batch.push(framed);
      size += framed.length;
      if (size >= 64 * 1024 || output.readableLength === 0) await flush();
    }
  } catch (err) {
    // the routes destroy the output when the client leaves (premature close): not a failure
    if (clientGone()) return;
    throw err;
  }
  if (size > 0 && !dest.destroyed && !dest.writableEnded) await flush();
}

/** The monitor writes local time with its offset (`...+01:00`); Docker prints UTC with `Z`, nanoseconds kept. */
export function dockerTimestamp(ts: string): string {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  if (!m) return ts;
  const [, seconds, fraction = '', zone] = m;
  if (zone === 'Z' || zone === '+00:00') return `${seconds}${fraction}Z`;
  return `${new Date(Date.parse(`${seconds}${zone}`)).toISOString().slice(0, 19)}${fraction}Z`;
}

/**
 * Connects an attach/exec session to the client. Upgraded: answers `101 UPGRADED` at once
 * and then moves raw bytes both ways over the socket (stdin in, frames out). Not upgraded:
 * an ordinary 200 response carrying the output only.
 */
export function serveSession(
  request: FastifyRequest,
  reply: FastifyReply,
  session: AttachSession,
  log: { warn: (o: object, m: string) => void },
  beforeEnd?: () => Promise<void>,
): void {
  const socket = upgradeSocket(request.raw);
  const framed = !session.tty;
  const contentType = framed && atLeast(request.apiVersion, '1.42') ? MULTIPLEXED_STREAM : RAW_STREAM;
  reply.hijack();
  if (socket) {
    reply.raw.detachSocket(socket);
    socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n${commonHeaderLines()}\r\n`);
    // Output already waiting (an attach replaying its logs) would reach the client in the
    // same read as these headers, and docker-py reads them buffered and drops what follows.
    // Docker writes its headers before it reads any log, so its output always comes later.
    if (session.output.readableLength > 0) setTimeout(() => wireSocket(socket, session, log, beforeEnd), HEADERS_ALONE_MS);
    else wireSocket(socket, session, log, beforeEnd);
    return;
  }
  const res = reply.raw;
  onClosed(res, () => session.close());
  res.writeHead(200, { 'Content-Type': contentType });
  res.flushHeaders();
  pipeOutput(session.output, res, { tty: session.tty })
    .catch((err: unknown) => log.warn({ err }, 'attach output failed'))
    .then(() => beforeEnd?.())
    .finally(() => res.end());
}

/** How long output already waiting at an upgrade stays behind the headers (see serveSession). */
const HEADERS_ALONE_MS = 100;

/** An exec's upgraded connection, answered before its process starts. */
export interface OpenedSession {
  serve(session: AttachSession, log: { warn: (o: object, m: string) => void }, beforeEnd?: () => Promise<void>): void;
  /** The process could not start: its message goes down the stream (stdout), as Docker's does. */
  fail(message: string): void;
}

/**
 * Answers an upgrade request with `101 UPGRADED` before the session exists, as Docker does
 * before it starts an exec: the process's first output then never shares the client's
 * read of the headers (docker-py reads them buffered and would lose those bytes).
 * Undefined when the client did not ask for an upgrade (serveSession answers it later).
 */
export function openUpgraded(request: FastifyRequest, reply: FastifyReply, framed: boolean): OpenedSession | undefined {
  const socket = upgradeSocket(request.raw);
  if (!socket) return undefined;
  const contentType = framed && atLeast(request.apiVersion, '1.42') ? MULTIPLEXED_STREAM : RAW_STREAM;
  reply.hijack();
  reply.raw.detachSocket(socket);
  socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n${commonHeaderLines()}\r\n`);
  return {
    serve: (session, log, beforeEnd) => wireSocket(socket, session, log, beforeEnd),
    fail: (message) => {
      const data = Buffer.from(message + '\r\n');
      socket.end(framed ? encodeFrame(StreamType.stdout, data) : data);
    },
  };
}

function wireSocket(socket: Socket, session: AttachSession, log: { warn: (o: object, m: string) => void }, beforeEnd?: () => Promise<void>): void {
  socket.setNoDelay(true);
  const stdin = session.stdin;
  if (stdin) {
    socket.on('data', (chunk: Buffer) => {
      if (!stdin.destroyed && !stdin.writableEnded && !stdin.write(chunk)) {
        socket.pause();
        stdin.once('drain', () => socket.resume());
      }
    });
    // The client half-closes when its stdin ends (docker run -i < file): pass the EOF on.
    socket.once('end', () => {
      if (!stdin.destroyed && !stdin.writableEnded) stdin.end();
    });
    stdin.on('error', () => {});
  } else {
    socket.on('data', () => {});
  }
  socket.resume();
  onClosed(socket, () => session.close());
  socket.on('error', () => session.close());
  pipeOutput(session.output, socket, { tty: session.tty })
    .catch((err: unknown) => log.warn({ err }, 'attach output failed'))
    .then(() => beforeEnd?.())
    .catch(() => {})
    .finally(() => {
      if (!socket.destroyed) socket.end();
    });
}

/**
 * Streams a body whose errors (NotFound...) surface only when it is first read: wait for
 * the first chunk so such an error is still an ordinary error response.
 */
export async function sendStream(reply: FastifyReply, stream: Readable, contentType: string): Promise<void> {
  onClosed(reply.raw, () => stream.destroy());
  const { first, rest } = await readFirstChunk(stream);
  reply.hijack();
  const res = reply.raw;
  if (res.destroyed) return;
  res.writeHead(200, { 'Content-Type': contentType });
  if (!first) {
    res.end();
    return;
  }
  rest.on('error', () => res.destroy());
  rest.pipe(res);
}
