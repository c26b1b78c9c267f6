// The connection to the daemon every call goes through: API version negotiation, JSON and
// empty requests, hijacked (Upgrade: tcp) streams. The calls themselves live by resource in
// system.ts, containers.ts, exec.ts, images.ts, build.ts, volumes.ts and networks.ts.
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { Readable } from 'node:stream';
import { BerthError, InvalidArgumentError } from '@berth/image-format';
import { API_VERSION, MIN_API_VERSION, compareApiVersions } from '../version.js';
import { readJsonLines } from '../stream/json-lines.js';
import { errorFromResponse } from './errors.js';
import { connectionError, drain, exchange, readText } from './transport.js';
import { hostFromEnv, parseHost, type EngineTarget } from './host.js';
import { encodeQuery, type Query } from './query.js';
import type { AuthConfig, JsonMessage } from '../types/common.js';

/** Content type of a framed stdout/stderr stream (API >= 1.42, no TTY). */
export const MULTIPLEXED_STREAM = 'application/vnd.docker.multiplexed-stream';
/** Content type of a raw stream (TTY, or any attach before API 1.42). */
export const RAW_STREAM = 'application/vnd.docker.raw-stream';

export interface EngineClientOptions {
  /** A unix socket path (wins over `host`). */
  socketPath?: string;
  /** `unix:///path`, `tcp://host:port` or `http://host:port`; default from BERTH_HOST / DOCKER_HOST. */
  host?: string;
  /** Pin the API version and skip negotiation (like DOCKER_API_VERSION). */
  apiVersion?: string;
  /** Per-request idle timeout in ms for non-streaming calls (default 0: none). */
  timeoutMs?: number;
  userAgent?: string;
}

interface RequestOptions {
  query?: Query;
  /** An object is sent as JSON; a Readable or Buffer is sent as is with `contentType`. */
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
  /** Do not prefix the path with /v<version> (for /_ping). */
  unversioned?: boolean;
}

/** A hijacked connection (attach, exec start): raw bytes both ways. */
export interface HijackedStream {
  /** Read the container's output, write its stdin; `end()` half-closes stdin. */
  stream: Duplex;
  /** True when the output is framed (no TTY): use `demultiplexStream`. */
  multiplexed: boolean;
}

export interface PingResult {
  apiVersion: string;
  osType: string;
  experimental: boolean;
  builderVersion: string | undefined;
}

/**
 * One daemon's address and the calls every request goes through; EngineClient adds the
 * calls by resource.
 */
export class EngineConnection {
  readonly target: EngineTarget;
  private readonly agent: http.Agent;
  private readonly pinnedVersion: string | undefined;
  private negotiation: Promise<string> | undefined;
  private readonly timeoutMs: number;
  private readonly userAgent: string;

  constructor(options: EngineClientOptions = {}) {
    this.target = options.socketPath ? { socketPath: options.socketPath } : parseHost(options.host ?? hostFromEnv());
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    this.pinnedVersion = options.apiVersion;
    this.timeoutMs = options.timeoutMs ?? 0;
    this.userAgent = options.userAgent ?? 'berth-engine-api';
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  /** The API version requests use (negotiated once, or pinned). */
  async apiVersion(): Promise<string> {
    if (this.pinnedVersion) return this.pinnedVersion;
    this.negotiation ??= this.ping().then(
      (p) => (compareApiVersions(p.apiVersion, API_VERSION) > 0 ? API_VERSION : p.apiVersion),
      (err: unknown) => {
        this.negotiation = undefined;
        throw err;
      },
    );
    return this.negotiation;
  }

  async ping(): Promise<PingResult> {
    const res = await this.send('GET', '/_ping', { unversioned: true });
    await drain(res);
    const h = res.headers;
    return {
      apiVersion: headerString(h['api-version']) || MIN_API_VERSION,
      osType: headerString(h['ostype']) || 'linux',
      experimental: headerString(h['docker-experimental']) === 'true',
      builderVersion: headerString(h['builder-version']) || undefined,
    };
  }

  protected async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const res = await this.send(method, path, options);
    const text = await readText(res);
    if (text.trim() === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new BerthError('Internal', `${method} ${path}: response is not JSON: ${text.slice(0, 200)}`, { cause: err });
    }
  }

  protected async empty(method: string, path: string, options: RequestOptions = {}): Promise<void> {
    await drain(await this.send(method, path, options));
  }

  /** Sends a request and resolves with the response once its status is below 400 (see transport.ts). */
  async send(method: string, path: string, options: RequestOptions = {}, signal?: AbortSignal): Promise<http.IncomingMessage> {
    const req = await this.prepare(method, path, options, this.agent, signal);
    return exchange(req, options.body, () => this.url(req));
  }

  /** The request's URL as docker prints it (a unix socket's path escaped as the host). */
  private url(req: http.ClientRequest): string {
    const t = this.target;
    return `http://${'socketPath' in t ? encodeURIComponent(t.socketPath) : `${t.hostname}:${t.port}`}${req.path}`;
  }

  protected async hijack(path: string, options: RequestOptions): Promise<HijackedStream> {
    // A hijacked socket leaves the pool for good, so it gets a fresh connection.
    const req = await this.prepare('POST', path, { ...options, headers: { ...options.headers, Connection: 'Upgrade', Upgrade: 'tcp' } }, false);
    return new Promise((resolve, reject) => {
      let answered = false;
      req.on('error', (err) => {
        if (!answered) reject(connectionError(req.method, this.url(req), err));
      });
      req.once('upgrade', (res, socket, head) => {
        answered = true;
        // Until the caller reads it, a reset must not be an unhandled 'error': the
        // stream is destroyed with it and a reader gets it then.
        socket.on('error', () => {});
        if (head.length > 0) socket.unshift(head);
        const contentType = headerString(res.headers['content-type']);
        resolve({ stream: socket, multiplexed: contentType === MULTIPLEXED_STREAM });
      });
      req.once('response', (res) => {
        answered = true;
        if ((res.statusCode ?? 500) >= 400) {
          readText(res, true).then((text) => reject(errorFromResponse(res.statusCode ?? 500, text)), reject);
          return;
        }
        // The daemon answered without upgrading: output only.
        resolve({ stream: wrapReadable(res), multiplexed: headerString(res.headers['content-type']) === MULTIPLEXED_STREAM });
      });
      // An upgrade's body is read by Content-Length (never chunked): JSON or nothing.
      const text = options.body === undefined ? '' : JSON.stringify(options.body);
      req.setHeader('Content-Length', Buffer.byteLength(text));
      req.end(text);
    });
  }

  private async prepare(
    method: string,
    path: string,
    options: RequestOptions,
    agent: http.Agent | false,
    signal?: AbortSignal,
  ): Promise<http.ClientRequest> {
    const prefix = options.unversioned ? '' : `/v${await this.apiVersion()}`;
    const headers: Record<string, string> = { 'User-Agent': this.userAgent, ...options.headers };
    const body = options.body;
    if (body !== undefined && !(body instanceof Readable) && !Buffer.isBuffer(body)) {
      headers['Content-Type'] = 'application/json';
    } else if (body !== undefined) {
      headers['Content-Type'] = options.contentType ?? 'application/octet-stream';
    }
    const target = this.target;
    const request: http.RequestOptions & { servername: string } = {
      method,
      path: prefix + path + encodeQuery(options.query),
      headers,
      agent,
      // TLS only (never used here): without it node's agent derives one from the host and
      // tests it with net.isIP, whose IPv6 pattern costs ~15 ms to compile on first use
      servername: '',
      ...('socketPath' in target ? { socketPath: target.socketPath } : { host: target.hostname, port: target.port }),
      ...(signal ? { signal } : {}),
    };
    const req = http.request(request);
    if (this.timeoutMs > 0) req.setTimeout(this.timeoutMs, () => req.destroy(new BerthError('Unavailable', `${method} ${path}: timed out`)));
    return req;
  }
}

/** Yields Docker JSON messages; a message with `error` ends the stream with a BerthError. */
export async function* progress(res: http.IncomingMessage): AsyncGenerator<JsonMessage> {
  try {
    for await (const msg of readJsonLines<JsonMessage>(res)) {
      if (msg.error || msg.errorDetail?.message) {
        const message = msg.errorDetail?.message ?? msg.error ?? 'unknown error';
        throw errorFromResponse(msg.errorDetail?.code && msg.errorDetail.code >= 400 ? msg.errorDetail.code : 500, JSON.stringify({ message }));
      }
      yield msg;
    }
  } finally {
    res.destroy();
  }
}

function wrapReadable(res: http.IncomingMessage): Duplex {
  return Object.assign(res, {
    write: () => {
      throw new InvalidArgumentError('this attach connection was not upgraded: stdin cannot be sent');
    },
  }) as unknown as Duplex;
}

/** A path segment that may hold a reference (`reg:5000/a/b:tag@sha256:...`), kept readable. */
export function seg(value: string): string {
  if (value === '') throw new InvalidArgumentError('empty name in request path');
  return encodeURIComponent(value).replace(/%2F/gi, '/').replace(/%3A/gi, ':').replace(/%40/gi, '@');
}

export function encodeAuth(auth: AuthConfig | undefined): string {
  return Buffer.from(JSON.stringify(auth ?? {})).toString('base64url');
}

export function headerString(v: string | string[] | undefined): string {
  return Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
}
