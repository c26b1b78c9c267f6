import type { Readable, Writable } from 'node:stream';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { MULTIPLEXED_STREAM, RAW_STREAM, StreamType, encodeFrame, jsonLine, readFirstChunk, statusForError } from '@berth/engine-api';
import type { AttachSession, OutputChunk } from '../engine-port.js';
import { atLeast } from './api-version.js';
import { commonHeaderLines } from './headers.js';
import { upgradeSocket } from './listeners.js';

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
    reply.raw.once('close', () => {
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

/** Writes the object-mode OutputChunk stream to `dest`: framed unless `tty`, prefixed with timestamps if asked. */
export async function pipeOutput(output: Readable, dest: Writable, opts: { tty: boolean; timestamps?: boolean }): Promise<void> {
  for await (const item of output) {
    if (dest.destroyed || dest.writableEnded) break;
    const chunk = item as OutputChunk;
    let data = chunk.data;
    if (opts.timestamps && chunk.timestamp) data = Buffer.concat([Buffer.from(dockerTimestamp(chunk.timestamp) + ' '), data]);
    const framed = opts.tty ? data : encodeFrame(chunk.stream === 'stderr' ? StreamType.stderr : StreamType.stdout, data);
    if (!dest.write(framed)) {
      await Promise.race([once(dest, 'drain'), once(dest, 'close')]);
    }
  }
}

/** conmon writes `...+00:00`; Docker prints RFC 3339 with `Z`. */
function dockerTimestamp(ts: string): string {
  return ts.endsWith('+00:00') ? ts.slice(0, -6) + 'Z' : ts;
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
  res.writeHead(200, { 'Content-Type': contentType });
  res.flushHeaders();
  res.once('close', () => session.close());
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
  socket.once('close', () => session.close());
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
  const { first, rest } = await readFirstChunk(stream);
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'Content-Type': contentType });
  res.once('close', () => stream.destroy());
  if (!first) {
    res.end();
    return;
  }
  rest.on('error', () => res.destroy());
  rest.pipe(res);
}
