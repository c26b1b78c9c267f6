import http from 'node:http';
import type { Duplex } from 'node:stream';
import { Readable } from 'node:stream';
import { BerthError, InvalidArgumentError } from '@berth/image-format';
import { API_VERSION, MIN_API_VERSION, compareApiVersions } from '../version.js';
import { readJsonLines } from '../stream/json-lines.js';
import { errorFromResponse } from './errors.js';
import { connectionError, drain, exchange, readText } from './transport.js';
import { hostFromEnv, parseHost, type EngineTarget } from './host.js';
import type { AuthConfig, AuthResponse, Filters, IdResponse, JsonMessage } from '../types/common.js';
import type {
  ContainerChange,
  ContainerConfig,
  ContainerCreateBody,
  ContainerCreateResponse,
  ContainerInspect,
  ContainerPruneResponse,
  ContainerStats,
  ContainerSummary,
  ContainerTopResponse,
  ContainerUpdateBody,
  ContainerWaitResponse,
  ExecCreateBody,
  ExecInspect,
  ExecStartBody,
  WaitCondition,
} from '../types/container.js';
import type { ImageDeleteItem, ImageHistoryItem, ImageInspect, ImagePruneResponse, ImageSummary } from '../types/image.js';
import type { EventMessage, SystemDataUsage, SystemInfo, SystemVersion } from '../types/system.js';
import type { Volume, VolumeCreateBody, VolumeListResponse, VolumePruneResponse } from '../types/volume.js';
import type {
  Network,
  NetworkConnectBody,
  NetworkCreateBody,
  NetworkCreateResponse,
  NetworkDisconnectBody,
  NetworkPruneResponse,
} from '../types/network.js';
import { BUILD_SECRETS_HEADER, encodeBuildSecrets } from './build-secrets.js';

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

type QueryValue = string | number | boolean | undefined | null | string[] | Filters;
type Query = Record<string, QueryValue>;

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

export interface ContainerListOptions {
  all?: boolean;
  limit?: number;
  size?: boolean;
  filters?: Filters;
}

export interface LogsOptions {
  follow?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  since?: number | string;
  until?: number | string;
  timestamps?: boolean;
  tail?: number | 'all';
}

export interface AttachOptions {
  stream?: boolean;
  stdin?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  logs?: boolean;
  detachKeys?: string;
}

export interface EventsOptions {
  since?: string | number;
  until?: string | number;
  filters?: Filters;
}

/**
 * A typed Docker Engine API client for berthd (and dockerd) over a unix socket or tcp.
 * Negotiates the API version on first use (GET /_ping, Api-Version header) and keeps
 * connections alive between calls. Every error response becomes a BerthError subclass
 * (NotFoundError for 404, ConflictError for 409, ...) with `statusCode` set.
 */
export class EngineClient {
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

  // ---- system ---------------------------------------------------------------

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

  version(): Promise<SystemVersion> {
    return this.json('GET', '/version');
  }

  info(): Promise<SystemInfo> {
    return this.json('GET', '/info');
  }

  df(): Promise<SystemDataUsage> {
    return this.json('GET', '/system/df');
  }

  auth(config: AuthConfig): Promise<AuthResponse> {
    return this.json('POST', '/auth', { body: config });
  }

  /** The daemon's event stream; breaking out of the loop closes the connection. */
  async *events(options: EventsOptions = {}): AsyncGenerator<EventMessage> {
    const res = await this.send('GET', '/events', {
      query: { since: options.since?.toString(), until: options.until?.toString(), filters: options.filters },
    });
    try {
      yield* readJsonLines<EventMessage>(res);
    } finally {
      res.destroy();
    }
  }

  // ---- containers ------------------------------------------------------------

  async containerCreate(body: ContainerCreateBody, options: { name?: string; platform?: string } = {}): Promise<ContainerCreateResponse> {
    return this.json('POST', '/containers/create', { query: { name: options.name, platform: options.platform }, body });
  }

  containerList(options: ContainerListOptions = {}): Promise<ContainerSummary[]> {
    return this.json('GET', '/containers/json', {
      query: { all: options.all, limit: options.limit, size: options.size, filters: options.filters },
    });
  }

  containerInspect(id: string, options: { size?: boolean } = {}): Promise<ContainerInspect> {
    return this.json('GET', `/containers/${seg(id)}/json`, { query: { size: options.size } });
  }

  async containerStart(id: string, options: { detachKeys?: string } = {}): Promise<void> {
    await this.empty('POST', `/containers/${seg(id)}/start`, { query: { detachKeys: options.detachKeys } });
  }

  /** Stops a container: `signal`, then SIGKILL after `t` seconds. */
  async containerStop(id: string, options: { t?: number; signal?: string } = {}): Promise<void> {
    await this.empty('POST', `/containers/${seg(id)}/stop`, { query: { t: options.t, signal: options.signal } });
  }

  async containerRestart(id: string, options: { t?: number; signal?: string } = {}): Promise<void> {
    await this.empty('POST', `/containers/${seg(id)}/restart`, { query: { t: options.t, signal: options.signal } });
  }

  async containerKill(id: string, options: { signal?: string } = {}): Promise<void> {
    await this.empty('POST', `/containers/${seg(id)}/kill`, { query: { signal: options.signal } });
  }

  async containerRemove(id: string, options: { force?: boolean; v?: boolean; link?: boolean } = {}): Promise<void> {
    await this.empty('DELETE', `/containers/${seg(id)}`, { query: { force: options.force, v: options.v, link: options.link } });
  }

  async containerRename(id: string, name: string): Promise<void> {
    await this.empty('POST', `/containers/${seg(id)}/rename`, { query: { name } });
  }

  async containerPause(id: string): Promise<void> {
    await this.empty('POST', `/containers/${seg(id)}/pause`);
  }

  async containerUnpause(id: string): Promise<void> {
    await this.empty('POST', `/containers/${seg(id)}/unpause`);
  }

  async containerResize(id: string, size: { h: number; w: number }): Promise<void> {
    await this.empty('POST', `/containers/${seg(id)}/resize`, { query: size });
  }

  containerUpdate(id: string, body: ContainerUpdateBody): Promise<{ Warnings: string[] | null }> {
    return this.json('POST', `/containers/${seg(id)}/update`, { body });
  }

  containerTop(id: string, psArgs?: string): Promise<ContainerTopResponse> {
    return this.json('GET', `/containers/${seg(id)}/top`, { query: { ps_args: psArgs } });
  }

  containerChanges(id: string): Promise<ContainerChange[] | null> {
    return this.json('GET', `/containers/${seg(id)}/changes`);
  }

  containerStats(id: string): Promise<ContainerStats> {
    return this.json('GET', `/containers/${seg(id)}/stats`, { query: { stream: false } });
  }

  containerPrune(filters?: Filters): Promise<ContainerPruneResponse> {
    return this.json('POST', '/containers/prune', { query: { filters } });
  }

  /**
   * Resolves when the condition is met (default not-running). The server sends the
   * headers at once; `onHeaders` fires then, so a caller can start the container
   * only after the wait is registered (what `docker run` does).
   */
  async containerWait(
    id: string,
    options: { condition?: WaitCondition; onHeaders?: () => void; signal?: AbortSignal } = {},
  ): Promise<ContainerWaitResponse> {
    const res = await this.send('POST', `/containers/${seg(id)}/wait`, { query: { condition: options.condition } }, options.signal);
    options.onHeaders?.();
    const text = await readText(res);
    try {
      return JSON.parse(text) as ContainerWaitResponse;
    } catch (err) {
      throw new BerthError('Internal', `wait for ${id}: connection closed before the exit status arrived`, { cause: err });
    }
  }

  /** A container's logs: multiplexed frames unless the container has a TTY. */
  async containerLogs(id: string, options: LogsOptions = {}): Promise<http.IncomingMessage> {
    return this.send('GET', `/containers/${seg(id)}/logs`, {
      query: {
        follow: options.follow,
        stdout: options.stdout ?? true,
        stderr: options.stderr ?? true,
        since: options.since?.toString(),
        until: options.until?.toString(),
        timestamps: options.timestamps,
        tail: options.tail?.toString(),
      },
    });
  }

  /** Attaches to a container over a hijacked (Upgrade: tcp) connection. */
  containerAttach(id: string, options: AttachOptions = {}): Promise<HijackedStream> {
    return this.hijack(`/containers/${seg(id)}/attach`, {
      query: {
        stream: options.stream ?? true,
        stdin: options.stdin,
        stdout: options.stdout ?? true,
        stderr: options.stderr ?? true,
        logs: options.logs,
        detachKeys: options.detachKeys,
      },
    });
  }

  /** A container's filesystem as a tar stream. */
  containerExport(id: string): Promise<Readable> {
    return this.send('GET', `/containers/${seg(id)}/export`);
  }

  /** `HEAD /containers/{id}/archive`: the stat of a path in the container (its last link not followed). */
  async containerStatPath(id: string, path: string): Promise<ContainerPathStat> {
    const res = await this.send('HEAD', `/containers/${seg(id)}/archive`, { query: { path } });
    await drain(res);
    return pathStatHeader(res);
  }

  /** `GET /containers/{id}/archive`: a tar of a path in the container (`dir/.`: its contents) and the path's stat. */
  async containerGetArchive(id: string, path: string): Promise<{ stat: ContainerPathStat; tar: Readable }> {
    const res = await this.send('GET', `/containers/${seg(id)}/archive`, { query: { path } });
    return { stat: pathStatHeader(res), tar: res };
  }

  /** `PUT /containers/{id}/archive`: extracts a tar into the directory `path` of the container. */
  async containerPutArchive(id: string, path: string, tar: Readable, options: { noOverwriteDirNonDir?: boolean; copyUIDGID?: boolean } = {}): Promise<void> {
    await this.empty('PUT', `/containers/${seg(id)}/archive`, {
      query: { path, noOverwriteDirNonDir: options.noOverwriteDirNonDir, copyUIDGID: options.copyUIDGID },
      body: tar,
      contentType: 'application/x-tar',
    });
  }

  // ---- exec ------------------------------------------------------------------

  execCreate(containerId: string, body: ExecCreateBody): Promise<IdResponse> {
    return this.json('POST', `/containers/${seg(containerId)}/exec`, { body });
  }

  /** Starts an exec; attached (default) it returns the hijacked stream, detached it returns undefined. */
  async execStart(execId: string, body: ExecStartBody = {}): Promise<HijackedStream | undefined> {
    if (body.Detach) {
      await this.empty('POST', `/exec/${seg(execId)}/start`, { body });
      return undefined;
    }
    return this.hijack(`/exec/${seg(execId)}/start`, { body });
  }

  async execResize(execId: string, size: { h: number; w: number }): Promise<void> {
    await this.empty('POST', `/exec/${seg(execId)}/resize`, { query: size });
  }

  execInspect(execId: string): Promise<ExecInspect> {
    return this.json('GET', `/exec/${seg(execId)}/json`);
  }

  // ---- images ----------------------------------------------------------------

  /** Pulls an image; iterate the progress messages (an `error` message throws). */
  async *imagePull(reference: string, options: { tag?: string; platform?: string; auth?: AuthConfig } = {}): AsyncGenerator<JsonMessage> {
    const res = await this.send('POST', '/images/create', {
      query: { fromImage: reference, tag: options.tag, platform: options.platform },
      headers: { 'X-Registry-Auth': encodeAuth(options.auth) },
    });
    yield* progress(res);
  }

  /** Pushes `name` (optionally only `tag`); iterate the progress messages. */
  async *imagePush(name: string, options: { tag?: string; platform?: string; auth?: AuthConfig } = {}): AsyncGenerator<JsonMessage> {
    const res = await this.send('POST', `/images/${seg(name)}/push`, {
      query: { tag: options.tag, platform: options.platform },
      headers: { 'X-Registry-Auth': encodeAuth(options.auth) },
    });
    yield* progress(res);
  }

  imageList(options: { all?: boolean; filters?: Filters; digests?: boolean; sharedSize?: boolean; manifests?: boolean } = {}): Promise<ImageSummary[]> {
    return this.json('GET', '/images/json', {
      query: {
        all: options.all,
        filters: options.filters,
        digests: options.digests,
        'shared-size': options.sharedSize,
        manifests: options.manifests,
      },
    });
  }

  imageInspect(name: string): Promise<ImageInspect> {
    return this.json('GET', `/images/${seg(name)}/json`);
  }

  imageHistory(name: string): Promise<ImageHistoryItem[]> {
    return this.json('GET', `/images/${seg(name)}/history`);
  }

  async imageTag(name: string, repo: string, tag?: string): Promise<void> {
    await this.empty('POST', `/images/${seg(name)}/tag`, { query: { repo, tag } });
  }

  imageRemove(name: string, options: { force?: boolean; noprune?: boolean } = {}): Promise<ImageDeleteItem[]> {
    return this.json('DELETE', `/images/${seg(name)}`, { query: { force: options.force, noprune: options.noprune } });
  }

  imagePrune(filters?: Filters): Promise<ImagePruneResponse> {
    return this.json('POST', '/images/prune', { query: { filters } });
  }

  /** `docker save`: a docker-archive tar stream of the named images. */
  imageSave(names: string[], options: { platform?: string } = {}): Promise<Readable> {
    return this.send('GET', '/images/get', { query: { names, platform: options.platform } });
  }

  /** `docker load`: sends a docker-archive (or OCI layout) tar; iterate the messages. */
  async *imageLoad(tar: Readable, options: { quiet?: boolean } = {}): AsyncGenerator<JsonMessage> {
    const res = await this.send('POST', '/images/load', {
      query: { quiet: options.quiet ?? false },
      body: tar,
      contentType: 'application/x-tar',
    });
    yield* progress(res);
  }

  /**
   * `docker build` (the classic builder, `POST /build`): sends the context tar (plain or
   * gzip) and yields the JSON build stream (`{stream}` lines, `{aux:{ID}}`). A step failure is
   * yielded too, as the last message (`errorDetail.code` is a failed RUN's exit code), so the
   * caller can exit with it as docker does; an error before the build starts throws.
   */
  async *imageBuild(context: Readable, options: ImageBuildOptions = {}): AsyncGenerator<JsonMessage> {
    const res = await this.send('POST', '/build', {
      query: {
        t: options.tags,
        dockerfile: options.dockerfile,
        buildargs: options.buildArgs ? JSON.stringify(options.buildArgs) : undefined,
        labels: options.labels ? JSON.stringify(options.labels) : undefined,
        target: options.target,
        nocache: options.noCache,
        rm: options.rm,
        forcerm: options.forceRm,
        q: options.quiet,
        pull: options.pull,
        networkmode: options.networkMode,
        extrahosts: options.extraHosts,
        cachefrom: options.cacheFrom ? JSON.stringify(options.cacheFrom) : undefined,
        platform: options.platform,
        nocachefilter: options.noCacheFilter?.length ? JSON.stringify(options.noCacheFilter) : undefined,
      },
      body: context,
      contentType: 'application/x-tar',
      headers: {
        ...(options.registryConfig ? { 'X-Registry-Config': Buffer.from(JSON.stringify(options.registryConfig)).toString('base64url') } : {}),
        ...(options.secrets && Object.keys(options.secrets).length ? { [BUILD_SECRETS_HEADER]: encodeBuildSecrets(options.secrets) } : {}),
      },
    });
    try {
      yield* readJsonLines<JsonMessage>(res);
    } finally {
      res.destroy();
    }
  }

  /** `docker import`: a rootfs tar becomes a one-layer image. */
  async *imageImport(tar: Readable, options: { repo?: string; tag?: string; message?: string; changes?: string[]; platform?: string } = {}): AsyncGenerator<JsonMessage> {
    const res = await this.send('POST', '/images/create', {
      query: {
        fromSrc: '-',
        repo: options.repo,
        tag: options.tag,
        message: options.message,
        changes: options.changes,
        platform: options.platform,
      },
      body: tar,
      contentType: 'application/x-tar',
    });
    yield* progress(res);
  }

  /** `docker commit`: the container's changes become a new image. */
  commit(
    container: string,
    options: { repo?: string; tag?: string; comment?: string; author?: string; pause?: boolean; changes?: string[]; config?: ContainerConfig } = {},
  ): Promise<IdResponse> {
    return this.json('POST', '/commit', {
      query: {
        container,
        repo: options.repo,
        tag: options.tag,
        comment: options.comment,
        author: options.author,
        pause: options.pause,
        changes: options.changes,
      },
      body: options.config ?? {},
    });
  }

  // ---- volumes ---------------------------------------------------------------

  volumeCreate(body: VolumeCreateBody = {}): Promise<Volume> {
    return this.json('POST', '/volumes/create', { body });
  }

  volumeList(options: { filters?: Filters } = {}): Promise<VolumeListResponse> {
    return this.json('GET', '/volumes', { query: { filters: options.filters } });
  }

  volumeInspect(name: string): Promise<Volume> {
    return this.json('GET', `/volumes/${seg(name)}`);
  }

  async volumeRemove(name: string, options: { force?: boolean } = {}): Promise<void> {
    await this.empty('DELETE', `/volumes/${seg(name)}`, { query: { force: options.force } });
  }

  volumePrune(filters?: Filters): Promise<VolumePruneResponse> {
    return this.json('POST', '/volumes/prune', { query: { filters } });
  }

  // ---- networks --------------------------------------------------------------

  networkCreate(body: NetworkCreateBody): Promise<NetworkCreateResponse> {
    return this.json('POST', '/networks/create', { body });
  }

  networkList(options: { filters?: Filters } = {}): Promise<Network[]> {
    return this.json('GET', '/networks', { query: { filters: options.filters } });
  }

  networkInspect(id: string): Promise<Network> {
    return this.json('GET', `/networks/${seg(id)}`);
  }

  async networkRemove(id: string): Promise<void> {
    await this.empty('DELETE', `/networks/${seg(id)}`);
  }

  async networkConnect(id: string, body: NetworkConnectBody): Promise<void> {
    await this.empty('POST', `/networks/${seg(id)}/connect`, { body });
  }

  async networkDisconnect(id: string, body: NetworkDisconnectBody): Promise<void> {
    await this.empty('POST', `/networks/${seg(id)}/disconnect`, { body });
  }

  networkPrune(filters?: Filters): Promise<NetworkPruneResponse> {
    return this.json('POST', '/networks/prune', { query: { filters } });
  }

  // ---- transport -------------------------------------------------------------

  private async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const res = await this.send(method, path, options);
    const text = await readText(res);
    if (text.trim() === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new BerthError('Internal', `${method} ${path}: response is not JSON: ${text.slice(0, 200)}`, { cause: err });
    }
  }

  private async empty(method: string, path: string, options: RequestOptions = {}): Promise<void> {
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

  private async hijack(path: string, options: RequestOptions): Promise<HijackedStream> {
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
    const req = http.request({
      method,
      path: prefix + path + queryString(options.query),
      headers,
      agent,
      ...('socketPath' in target ? { socketPath: target.socketPath } : { host: target.hostname, port: target.port }),
      ...(signal ? { signal } : {}),
    });
    if (this.timeoutMs > 0) req.setTimeout(this.timeoutMs, () => req.destroy(new BerthError('Unavailable', `${method} ${path}: timed out`)));
    return req;
  }
}

/** Yields Docker JSON messages; a message with `error` ends the stream with a BerthError. */
async function* progress(res: http.IncomingMessage): AsyncGenerator<JsonMessage> {
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

function queryString(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) {
      for (const v of value) params.append(key, v);
    } else if (typeof value === 'object') {
      if (Object.keys(value).length > 0) params.append(key, JSON.stringify(value));
    } else if (typeof value === 'boolean') {
      params.append(key, value ? '1' : '0');
    } else {
      params.append(key, String(value));
    }
  }
  const s = params.toString();
  return s === '' ? '' : `?${s}`;
}

/** A path segment that may hold a reference (`reg:5000/a/b:tag@sha256:...`), kept readable. */
function seg(value: string): string {
  if (value === '') throw new InvalidArgumentError('empty name in request path');
  return encodeURIComponent(value).replace(/%2F/gi, '/').replace(/%3A/gi, ':').replace(/%40/gi, '@');
}

function encodeAuth(auth: AuthConfig | undefined): string {
  return Buffer.from(JSON.stringify(auth ?? {})).toString('base64url');
}

/** Docker's path stat (X-Docker-Container-Path-Stat); `mode` uses Go's os.FileMode bits (directory = 1<<31, symlink = 1<<27). */
export interface ContainerPathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

function pathStatHeader(res: http.IncomingMessage): ContainerPathStat {
  const raw = headerString(res.headers['x-docker-container-path-stat']);
  if (raw === '') throw new BerthError('Internal', 'the daemon sent no X-Docker-Container-Path-Stat header');
  return JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as ContainerPathStat;
}

function headerString(v: string | string[] | undefined): string {
  return Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
}

/** Query options of `POST /build` (the engine's builder takes the same). */
export interface ImageBuildOptions {
  /** `name[:tag]` references given to the result. */
  tags?: string[];
  /** Path of the Dockerfile inside the context (default `Dockerfile`). */
  dockerfile?: string;
  /** `--build-arg`s; null takes the value from... nowhere here (Docker: the client's env), so it is unset. */
  buildArgs?: Record<string, string | null>;
  /** Labels added to the result (as a final `LABEL` step). */
  labels?: Record<string, string>;
  /** Build up to this stage (name or index). */
  target?: string;
  /** Run every step, ignoring the build cache. */
  noCache?: boolean;
  /** Remove a step's container once it succeeded (default true). */
  rm?: boolean;
  /** Remove step containers even when they failed. */
  forceRm?: boolean;
  /** Only the result's ID is reported. */
  quiet?: boolean;
  /** Pull the FROM images even when present. */
  pull?: boolean;
  /** Network of RUN containers (`default`/`bridge`, `none`, `host`, a network name). */
  networkMode?: string;
  /** `host:ip` lines added to the RUN containers' /etc/hosts (`--add-host`). */
  extraHosts?: string[];
  /** Images whose build history may be reused as cache (`--cache-from`); given, only they are. */
  cacheFrom?: string[];
  /** Credentials by registry for the FROM images' pulls (the X-Registry-Config header). */
  registryConfig?: Record<string, AuthConfig>;
  /** Target platform (`linux/amd64`): TARGETPLATFORM and the FROM images' platform. */
  platform?: string;
  /** Stages whose steps are run again even when cached (BuildKit's `--no-cache-filter`; Berth's `nocachefilter` query). */
  noCacheFilter?: string[];
  /**
   * `RUN --mount=type=secret` values by id (Berth's `X-Berth-Build-Secrets` header; Docker's
   * API cannot carry them outside a BuildKit session). Never stored by the builder.
   */
  secrets?: Record<string, Buffer>;
}
