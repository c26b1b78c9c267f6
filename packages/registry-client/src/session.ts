import { rootCertificates } from 'node:tls';
import type { Readable } from 'node:stream';
import { BerthError, UnauthorizedError } from '@berth/image-format';
import { Agent, EnvHttpProxyAgent, request, type Dispatcher } from 'undici';
import { Authorizer } from './auth/authorizer.js';
import type { TokenCache } from './auth/token-cache.js';
import type { CredentialStore } from './credentials/store.js';
import { isLoopbackRegistry, type RegistryEndpoint } from './endpoint.js';
import { readErrorBody } from './registry-error.js';
import { isNetworkError, retryDelay, sleep, type RetryOptions } from './retry.js';

export type HttpMethod = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

export interface SessionRequest {
  method: HttpMethod;
  /** A path from the registry root (`/v2/...`) or an absolute URL (an upload `Location`). */
  url: string;
  headers?: Record<string, string>;
  /** Made anew for each try, so a request with a body can be retried (a 401 refresh included). */
  body?: () => Readable | Buffer | string | Promise<Readable | Buffer | string>;
  /** Token scopes the request needs. */
  scopes: readonly string[];
  /** Retry 429/5xx and broken connections (default: GET and HEAD only). */
  retry?: boolean;
  signal?: AbortSignal;
}

export interface SessionResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
  /** The URL that answered (after redirects). */
  url: string;
}

/** HTTP(S) proxies, as the HTTP_PROXY / HTTPS_PROXY / NO_PROXY variables say them. */
export interface ProxyOptions {
  httpProxy?: string;
  httpsProxy?: string;
  noProxy?: string;
}

/**
 * The proxies a registry is reached through: the explicit ones when given (false: none);
 * else the environment's, except for loopback registries, which are always direct (as
 * Go's ProxyFromEnvironment does for Docker).
 */
export function proxyFor(registry: string, explicit: ProxyOptions | false | undefined): ProxyOptions | undefined {
  if (explicit === false) return undefined;
  if (explicit) return explicit;
  const env = process.env;
  const httpProxy = env['http_proxy'] ?? env['HTTP_PROXY'];
  const httpsProxy = env['https_proxy'] ?? env['HTTPS_PROXY'];
  if (!httpProxy && !httpsProxy) return undefined;
  if (isLoopbackRegistry(registry)) return undefined;
  return { httpProxy, httpsProxy, noProxy: env['no_proxy'] ?? env['NO_PROXY'] };
}

function makeDispatcher(
  proxy: ProxyOptions | undefined,
  tls: Record<string, unknown>,
): Dispatcher {
  const base = { keepAliveTimeout: 30_000, connect: tls };
  if (!proxy) return new Agent(base);
  // '' rather than undefined: undici would otherwise read the environment for unset fields
  return new EnvHttpProxyAgent({
    ...base,
    requestTls: tls,
    httpProxy: proxy.httpProxy ?? '',
    httpsProxy: proxy.httpsProxy ?? '',
    noProxy: proxy.noProxy ?? '',
  });
}

export interface SessionOptions {
  endpoint: RegistryEndpoint;
  /** See proxyFor(). */
  proxy?: ProxyOptions | false;
  credentials?: CredentialStore;
  retry: RetryOptions;
  tokenCache?: TokenCache;
  /** Bytes buffered per response body stream (default 1 MiB). */
  highWaterMark?: number;
  userAgent?: string;
  /** See AuthorizerOptions.offlineToken. */
  offlineToken?: boolean;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

function header(h: SessionResponse['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * All HTTP with one registry: picks https or the http fallback once (pinging `/v2/`),
 * keeps a pooled keep-alive agent with the registry's TLS settings, adds authorization,
 * follows redirects (dropping credentials when the origin changes), retries 429/5xx and
 * broken connections with bounded backoff honouring Retry-After.
 */
export class RegistrySession {
  readonly registry: string;
  readonly auth: Authorizer;
  private readonly agent: Dispatcher;
  private readonly proxy: ProxyOptions | undefined;
  private foreignAgent: Dispatcher | undefined;
  private base: Promise<string> | undefined;

  constructor(private readonly opts: SessionOptions) {
    this.registry = opts.endpoint.registry;
    const tls = opts.endpoint.tls;
    this.proxy = proxyFor(this.registry, opts.proxy);
    this.agent = makeDispatcher(
      this.proxy,
      tls
        ? {
            rejectUnauthorized: tls.rejectUnauthorized,
            ...(tls.ca ? { ca: [...rootCertificates, ...tls.ca] } : {}),
            ...(tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}),
          }
        : {},
    );
    this.auth = new Authorizer({
      registry: this.registry,
      credentials: opts.credentials,
      dispatcherFor: (url) => this.dispatcherFor(url),
      tokenCache: opts.tokenCache,
      ...(opts.offlineToken ? { offlineToken: true } : {}),
    });
  }

  /** The registry's agent for its own origins; a plain verified agent elsewhere (token realms, CDNs, foreign layers). */
  dispatcherFor(url: string): Dispatcher {
    const host = new URL(url).host;
    const own = [this.opts.endpoint.baseUrl, ...this.opts.endpoint.fallbackUrls].some((b) => new URL(b).host === host);
    if (own) return this.agent;
    this.foreignAgent ??= makeDispatcher(this.proxy, {});
    return this.foreignAgent;
  }

  async close(): Promise<void> {
    await Promise.all([this.agent.close(), this.foreignAgent?.close()]);
  }

  /** The base URL in use, found by pinging `/v2/` (which also learns the auth challenge). */
  baseUrl(): Promise<string> {
    this.base ??= this.ping().catch((e: unknown) => {
      this.base = undefined;
      throw e;
    });
    return this.base;
  }

  private async ping(): Promise<string> {
    const candidates = [this.opts.endpoint.baseUrl, ...this.opts.endpoint.fallbackUrls];
    let lastErr: unknown;
    for (let attempt = 0; attempt < this.opts.retry.attempts; attempt++) {
      if (attempt > 0) await sleep(retryDelay(attempt - 1, this.opts.retry));
      for (const base of candidates) {
        try {
          const res = await request(`${base}/v2/`, {
            method: 'GET',
            headers: this.baseHeaders(),
            dispatcher: this.agent,
          });
          await res.body.dump();
          if (res.statusCode >= 500 || res.statusCode === 429) {
            lastErr = new BerthError('Unavailable', `registry ${this.registry} answered ${res.statusCode} to /v2/`);
            break;
          }
          if (res.statusCode === 401) this.auth.setChallenge(header(res.headers, 'www-authenticate') ?? 'Basic realm="registry"');
          else this.auth.setChallenge(null);
          return base;
        } catch (e) {
          lastErr = e;
        }
      }
      // a certificate or protocol failure will not heal by waiting; a refused or reset connection may
      if (!(lastErr instanceof BerthError) && !isNetworkError(lastErr)) break;
    }
    throw new BerthError(
      'Unavailable',
      `registry ${this.registry} is unreachable: ${(lastErr as Error | undefined)?.message ?? 'no answer'}`,
      { cause: lastErr },
    );
  }

  private baseHeaders(): Record<string, string> {
    return { 'user-agent': this.opts.userAgent ?? 'berth' };
  }

  /**
   * Sends a request and returns the response whatever its status, except: a 401 after
   * a fresh authorization becomes UnauthorizedError; 429/5xx and network failures are
   * retried (bounded) when `retry` allows; redirects of GET/HEAD are followed. The
   * caller must consume or destroy `body`.
   */
  async send(req: SessionRequest): Promise<SessionResponse> {
    const base = await this.baseUrl();
    const retry = req.retry ?? (req.method === 'GET' || req.method === 'HEAD');
    let scopes = req.scopes;
    let authRetried = false;
    let url = req.url.startsWith('/') ? base + req.url : req.url;
    let redirects = 0;
    // credentials go only to the registry itself (an upload Location may point elsewhere)
    let sameOrigin = new URL(url).origin === new URL(base).origin;
    for (let attempt = 0; ; ) {
      const headers: Record<string, string> = { ...this.baseHeaders(), ...req.headers };
      let sentAuth = false;
      if (sameOrigin) {
        const a = await this.auth.authorization(scopes);
        if (a) {
          headers['authorization'] = a;
          sentAuth = true;
        }
      }
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, {
          method: req.method,
          headers,
          body: req.body ? await req.body() : undefined,
          dispatcher: this.dispatcherFor(url),
          highWaterMark: this.opts.highWaterMark ?? 1024 * 1024,
          signal: req.signal,
        });
      } catch (e) {
        if (retry && attempt + 1 < this.opts.retry.attempts && isNetworkError(e) && !req.signal?.aborted) {
          await sleep(retryDelay(attempt, this.opts.retry), req.signal);
          attempt++;
          continue;
        }
        if (isNetworkError(e)) {
          throw new BerthError('Unavailable', `registry ${this.registry}: ${req.method} ${redact(url)}: ${(e as Error).message}`, {
            cause: e,
          });
        }
        throw e;
      }
      const status = res.statusCode;
      if (status === 401 && sameOrigin) {
        const www = header(res.headers, 'www-authenticate');
        const detail = await readErrorBody(res);
        if (!authRetried) {
          authRetried = true;
          const next = this.auth.onUnauthorized(www, scopes, sentAuth);
          if (next.retry) {
            scopes = next.scopes;
            continue;
          }
        }
        throw new UnauthorizedError(
          `unauthorized: ${this.registry}: ${detail || 'authentication required'}${sentAuth ? '' : ' (no credentials)'}`,
        );
      }
      if ((status === 429 || status >= 500) && retry && attempt + 1 < this.opts.retry.attempts) {
        const ra = res.headers['retry-after'];
        await res.body.dump();
        await sleep(retryDelay(attempt, this.opts.retry, ra), req.signal);
        attempt++;
        continue;
      }
      if (REDIRECTS.has(status) && (req.method === 'GET' || req.method === 'HEAD')) {
        const loc = header(res.headers, 'location');
        await res.body.dump();
        if (!loc || ++redirects > MAX_REDIRECTS) {
          throw new BerthError('Unavailable', `registry ${this.registry}: too many or empty redirects for ${redact(url)}`);
        }
        const next = new URL(loc, url);
        // credentials stay with the registry: a CDN or storage backend gets none
        sameOrigin = next.origin === new URL(base).origin;
        url = next.href;
        continue;
      }
      return { status, headers: res.headers, body: res.body, url };
    }
  }
}

/** Drops the query string (pre-signed URLs carry signatures there). */
export function redact(url: string): string {
  const q = url.indexOf('?');
  return q >= 0 ? `${url.slice(0, q)}?…` : url;
}
