import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { createHash } from 'node:crypto';
import {
  BerthError,
  DigestMismatchError,
  NotFoundError,
  normalizeReference,
  parseDigest,
  parseRepositoryName,
  type Descriptor,
  type Digest,
  type Reference,
} from '@berth/image-format';
import { repositoryScope } from './auth/authorizer.js';
import { TokenCache } from './auth/token-cache.js';
import { StaticCredentialStore, type CredentialStore, type Credentials } from './credentials/store.js';
import { resolveEndpoint, type EndpointOptions } from './endpoint.js';
import { fetchManifest, headManifest, type FetchedManifest } from './manifests.js';
import { pullImage, resolveImage, type PullOptions, type PullResult, type ResolveOptions, type ResolvedImage } from './pull.js';
import { pushImage, type PushOptions, type PushResult } from './push.js';
import { readErrorBody, statusError } from './registry-error.js';
import { DEFAULT_RETRY, type RetryOptions } from './retry.js';
import { RegistrySession, type ProxyOptions } from './session.js';
import type { BlobSink, BlobSource } from './sink.js';

export interface RegistryClientOptions extends EndpointOptions {
  /** Where logins come from (e.g. a ChainCredentialStore of Berth's file and Docker's config). */
  credentials?: CredentialStore;
  retry?: Partial<RetryOptions>;
  userAgent?: string;
  /**
   * Pull-through mirrors per registry (`{ 'docker.io': ['mirror.example:5000'] }`), tried in
   * order before the registry itself for resolve and pull; a mirror that lacks the image,
   * refuses or is down falls through to the next. Entries are `host[:port]` or URLs; an
   * `http://` URL marks that mirror insecure. Pushes always go to the registry itself.
   */
  mirrors?: Record<string, string[]>;
  /**
   * HTTP(S) proxies. Default: HTTP_PROXY / HTTPS_PROXY / NO_PROXY from the environment,
   * loopback registries always direct; `false`: never a proxy; an object: exactly these.
   */
  proxy?: ProxyOptions | false;
}

/** Errors after which the next mirror (or the registry itself) is worth trying. */
function mirrorMiss(e: unknown): boolean {
  return e instanceof BerthError && ['NotFound', 'Unavailable', 'Unauthorized', 'Forbidden'].includes(e.code);
}

/**
 * An OCI Distribution client for any number of registries. One keep-alive connection
 * pool and one token cache per registry, reused across calls; `close()` ends them.
 * References are Docker-normalised (`busybox` = docker.io/library/busybox:latest).
 */
export class RegistryClient {
  private readonly sessions = new Map<string, Promise<RegistrySession>>();
  private readonly retry: RetryOptions;
  private readonly tokens = new TokenCache();

  private readonly mirrors = new Map<string, string[]>();

  private readonly opts: RegistryClientOptions;

  constructor(opts: RegistryClientOptions = {}) {
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    const insecure = [...(opts.insecureRegistries ?? [])];
    for (const [registry, list] of Object.entries(opts.mirrors ?? {})) {
      const hosts = list.map((m) => {
        if (!/^https?:\/\//i.test(m)) return m.replace(/\/+$/, '');
        const u = new URL(m);
        if (u.protocol === 'http:') insecure.push(u.host);
        return u.host;
      });
      this.mirrors.set(registry, hosts);
    }
    this.opts = { ...opts, insecureRegistries: insecure };
  }

  /** Runs a read against each mirror of the reference's registry, then the registry itself. */
  private async viaMirrors<T>(r: Reference, read: (session: RegistrySession, ref: Reference) => Promise<T>): Promise<T> {
    const mirrors = this.mirrors.get(r.domain) ?? [];
    for (const host of mirrors) {
      try {
        return await read(await this.session(host), r);
      } catch (e) {
        if (!mirrorMiss(e)) throw e;
      }
    }
    return read(await this.session(r.domain), r);
  }

  private session(registry: string): Promise<RegistrySession> {
    let s = this.sessions.get(registry);
    if (!s) {
      s = resolveEndpoint(registry, this.opts).then(
        (endpoint) =>
          new RegistrySession({
            endpoint,
            credentials: this.opts.credentials,
            retry: this.retry,
            tokenCache: this.tokens,
            userAgent: this.opts.userAgent,
            proxy: this.opts.proxy,
          }),
      );
      s.catch(() => this.sessions.delete(registry));
      this.sessions.set(registry, s);
    }
    return s;
  }

  private ref(input: string | Reference): Reference {
    return typeof input === 'string' ? normalizeReference(input) : input;
  }

  /** Resolves a tag or digest to the image manifest for `platform` (default: this host's). */
  async resolve(ref: string | Reference, opts: ResolveOptions = {}): Promise<ResolvedImage> {
    return this.viaMirrors(this.ref(ref), (session, r) => resolveImage(session, r, opts));
  }

  /** Pulls an image's blobs into `sink`; see PullOptions for progress and pipelining. */
  async pull(ref: string | Reference, sink: BlobSink, opts: PullOptions = {}): Promise<PullResult> {
    return this.viaMirrors(this.ref(ref), (session, r) => pullImage(session, r, sink, this.retry, opts));
  }

  /** Pushes blobs from `source`, then the manifest under the reference's tag. */
  async push(ref: string | Reference, source: BlobSource, opts: PushOptions): Promise<PushResult> {
    const r = this.ref(ref);
    return pushImage(await this.session(r.domain), r, source, this.retry, opts);
  }

  /** The manifest or index a reference names, as its exact bytes, parsed and digest-checked. */
  async getManifest(ref: string | Reference): Promise<FetchedManifest> {
    const r = this.ref(ref);
    return fetchManifest(await this.session(r.domain), r);
  }

  /** The descriptor (media type, digest, size) of what a reference names, without its body. */
  async headManifest(ref: string | Reference): Promise<Descriptor> {
    const r = this.ref(ref);
    return headManifest(await this.session(r.domain), r);
  }

  /**
   * Streams a blob of `repository`. The stream errors with DigestMismatchError at its end
   * when the bytes do not hash to `digest`.
   */
  async getBlob(repository: string, digest: Digest): Promise<Readable> {
    const { algorithm } = parseDigest(digest);
    const r = parseRepositoryName(repository);
    const session = await this.session(r.domain);
    const res = await session.send({
      method: 'GET',
      url: `/v2/${r.path}/blobs/${digest}`,
      scopes: [repositoryScope(r.path, 'pull')],
    });
    if (res.status === 404) {
      await res.body.dump();
      throw new NotFoundError(`blob unknown: ${digest} in ${r.name}`);
    }
    if (res.status !== 200) throw statusError(res.status, `blob ${digest}`, await readErrorBody(res));
    const hash = createHash(algorithm);
    const check = new Transform({
      transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback) {
        hash.update(chunk);
        cb(null, chunk);
      },
      flush(cb: TransformCallback) {
        const actual = `${algorithm}:${hash.digest('hex')}`;
        cb(actual === digest ? null : new DigestMismatchError(digest, actual, `blob ${digest}`));
      },
    });
    res.body.on('error', (e) => check.destroy(e));
    return res.body.pipe(check);
  }

  /** Every tag of a repository, following `Link` pagination. */
  async listTags(repository: string): Promise<string[]> {
    const r = parseRepositoryName(repository);
    const session = await this.session(r.domain);
    const tags: string[] = [];
    let url: string | undefined = `/v2/${r.path}/tags/list?n=1000`;
    for (let page = 0; url && page < 1000; page++) {
      const res = await session.send({ method: 'GET', url, scopes: [repositoryScope(r.path, 'pull')] });
      if (res.status === 404) {
        await res.body.dump();
        throw new NotFoundError(`repository unknown: ${r.name}`);
      }
      if (res.status !== 200) throw statusError(res.status, `tags of ${r.name}`, await readErrorBody(res));
      const body = (await res.body.json()) as { tags?: string[] | null };
      tags.push(...(body.tags ?? []));
      const link = res.headers['link'];
      const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(Array.isArray(link) ? link.join(',') : (link ?? ''));
      url = m ? new URL(m[1]!, res.url).href : undefined;
    }
    return tags;
  }

  /** Deletes a manifest; a tag is resolved to its digest first (registries delete by digest). */
  async deleteManifest(ref: string | Reference): Promise<Digest> {
    const r = this.ref(ref);
    const session = await this.session(r.domain);
    const digest = r.digest ?? (await headManifest(session, r)).digest;
    const res = await session.send({
      method: 'DELETE',
      url: `/v2/${r.path}/manifests/${digest}`,
      scopes: [repositoryScope(r.path, '*')],
      retry: true,
    });
    const detail = await readErrorBody(res);
    if (res.status === 202 || res.status === 200) return digest;
    if (res.status === 404) throw new NotFoundError(`manifest unknown: ${r.toString()}`);
    if (res.status === 405) throw new BerthError('Unsupported', `registry ${r.domain} does not allow deletes${detail ? ` (${detail})` : ''}`);
    throw statusError(res.status, `delete of ${r.toString()}`, detail);
  }

  /**
   * Checks a login the way `docker login` does: authenticates to the registry's `/v2/`
   * (through its token service when it uses one) with `credentials`. Resolves when they
   * are accepted; rejects with UnauthorizedError when not. Stores nothing. A token
   * service that hands out a refresh token gives the identity token Docker's clients
   * store in place of the password.
   */
  async login(registry: string, credentials: Credentials): Promise<{ identityToken?: string }> {
    const endpoint = await resolveEndpoint(registry, this.opts);
    const session = new RegistrySession({
      endpoint,
      credentials: new StaticCredentialStore({ [registry]: credentials }),
      retry: this.retry,
      userAgent: this.opts.userAgent,
      proxy: this.opts.proxy,
      offlineToken: true,
    });
    try {
      const res = await session.send({ method: 'GET', url: '/v2/', scopes: [] });
      if (res.status !== 200) throw statusError(res.status, `login to ${registry}`, await readErrorBody(res));
      await res.body.dump();
      const identityToken = session.auth.identityToken;
      return identityToken ? { identityToken } : {};
    } finally {
      await session.close();
    }
  }

  /** Closes every connection pool. */
  async close(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map(async (s) => (await s.catch(() => undefined))?.close()));
  }
}

