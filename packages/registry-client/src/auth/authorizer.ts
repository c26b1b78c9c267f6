import { BerthError, UnauthorizedError } from '@berth/image-format';
import type { Dispatcher } from 'undici';
import { request } from 'undici';
import { describeCredentials, type CredentialStore, type Credentials } from '../credentials/store.js';
import { parseWWWAuthenticate, type AuthChallenge } from './challenge.js';
import { TokenCache, tokenFromResponse, type TokenResponse } from './token-cache.js';

/** Scope strings of the Docker token spec. */
export function repositoryScope(repository: string, actions: 'pull' | 'push' | 'pull,push' | '*'): string {
  return `repository:${repository}:${actions}`;
}

export interface AuthorizerOptions {
  registry: string;
  credentials?: CredentialStore;
  /** The dispatcher for token requests to a realm URL. */
  dispatcherFor: (url: string) => Dispatcher;
  tokenCache?: TokenCache;
  /** Sent as `client_id` with OAuth2 token requests. */
  clientId?: string;
  /**
   * Ask the token service for a refresh token (`offline_token=true`), as `docker login`
   * does: it becomes the identity token a client stores instead of the password.
   */
  offlineToken?: boolean;
}

/**
 * Turns the registry's challenge plus stored credentials into `Authorization` headers:
 * Basic as is, Bearer through the token service (one token per scope set, cached until
 * it expires, refreshed after a 401). Secrets go only into headers, never into messages.
 */
export class Authorizer {
  /** undefined = not known yet; null = the registry asked for nothing. */
  private challenge: AuthChallenge | null | undefined;
  private creds: Promise<Credentials | undefined> | undefined;
  private readonly tokens: TokenCache;
  private readonly inflight = new Map<string, Promise<string>>();
  /** The refresh token the token service handed out, when asked with `offlineToken`. */
  identityToken: string | undefined;

  constructor(private readonly opts: AuthorizerOptions) {
    this.tokens = opts.tokenCache ?? new TokenCache();
  }

  /** Records the challenge from a `WWW-Authenticate` header (null: none). */
  setChallenge(header: string | undefined | null): void {
    if (!header) {
      this.challenge = null;
      return;
    }
    const all = parseWWWAuthenticate(header);
    this.challenge = all.find((c) => c.scheme === 'bearer') ?? all.find((c) => c.scheme === 'basic') ?? null;
  }

  get scheme(): string | undefined {
    return this.challenge?.scheme;
  }

  private credentials(): Promise<Credentials | undefined> {
    if (!this.creds) {
      const p = this.opts.credentials ? this.opts.credentials.get(this.opts.registry) : Promise.resolve(undefined);
      // a failed lookup (a helper that timed out) is tried again next time
      p.catch(() => {
        if (this.creds === p) this.creds = undefined;
      });
      this.creds = p;
    }
    return this.creds;
  }

  /** The `Authorization` value for a request needing `scopes`, or undefined. */
  async authorization(scopes: readonly string[]): Promise<string | undefined> {
    const ch = this.challenge;
    if (!ch) return undefined;
    const creds = await this.credentials();
    if (ch.scheme === 'basic') {
      if (!creds?.username) return undefined;
      return `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64')}`;
    }
    if (ch.scheme !== 'bearer') return undefined;
    if (creds?.registryToken) return `Bearer ${creds.registryToken}`;
    const realm = ch.params['realm'];
    if (!realm) throw new BerthError('Unavailable', `registry ${this.opts.registry}: bearer challenge without realm`);
    const service = ch.params['service'] ?? '';
    const key = TokenCache.key(realm, service, scopes);
    const cached = this.tokens.get(key);
    if (cached) return `Bearer ${cached}`;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.fetchToken(realm, service, scopes, creds, key).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return `Bearer ${await p}`;
  }

  /**
   * Called on a 401. Forgets the token used for `scopes` and learns the new challenge.
   * Returns extra scopes the registry named (an `insufficient_scope` answer), and
   * whether retrying can help: not when Basic credentials were already sent.
   */
  onUnauthorized(header: string | undefined, scopes: readonly string[], sentAuthorization: boolean): { retry: boolean; scopes: string[] } {
    const prevScheme = this.challenge?.scheme;
    if (header) this.setChallenge(header);
    // a login may have happened since the credentials were read (long-lived daemon)
    this.creds = undefined;
    const ch = this.challenge;
    if (!ch) return { retry: false, scopes: [...scopes] };
    if (ch.scheme === 'basic') return { retry: !sentAuthorization || prevScheme !== 'basic', scopes: [...scopes] };
    const extra = ch.params['scope']?.split(' ').filter(Boolean) ?? [];
    const merged = [...new Set([...scopes, ...extra])];
    const realm = ch.params['realm'] ?? '';
    const service = ch.params['service'] ?? '';
    this.tokens.delete(TokenCache.key(realm, service, scopes));
    this.tokens.delete(TokenCache.key(realm, service, merged));
    return { retry: true, scopes: merged };
  }

  private async fetchToken(
    realm: string,
    service: string,
    scopes: readonly string[],
    creds: Credentials | undefined,
    key: string,
  ): Promise<string> {
    const url = new URL(realm);
    const headers: Record<string, string> = { accept: 'application/json' };
    let method: 'GET' | 'POST' = 'GET';
    let body: string | undefined;
    if (creds?.identityToken) {
      // OAuth2 refresh-token grant, as Docker does for identity tokens
      method = 'POST';
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: creds.identityToken,
        service,
        client_id: this.opts.clientId ?? 'berth',
      });
      if (scopes.length) form.set('scope', scopes.join(' '));
      body = form.toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else {
      if (service) url.searchParams.set('service', service);
      for (const s of scopes) url.searchParams.append('scope', s);
      if (creds?.username) {
        headers['authorization'] = `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64')}`;
        url.searchParams.set('account', creds.username);
        if (this.opts.offlineToken) {
          url.searchParams.set('offline_token', 'true');
          url.searchParams.set('client_id', this.opts.clientId ?? 'berth');
        }
      }
    }
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, { method, headers, body, dispatcher: this.opts.dispatcherFor(url.href) });
    } catch (e) {
      throw new BerthError('Unavailable', `token service ${url.origin} for ${this.opts.registry}: ${(e as Error).message}`, { cause: e });
    }
    if (res.statusCode === 401 || res.statusCode === 403) {
      await res.body.dump();
      throw new UnauthorizedError(
        `unauthorized: ${this.opts.registry}: the token service rejected the credentials (${describeCredentials(creds)})`,
      );
    }
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new BerthError('Unavailable', `token service ${url.origin} for ${this.opts.registry} answered ${res.statusCode}`);
    }
    let parsed: TokenResponse;
    try {
      parsed = (await res.body.json()) as TokenResponse;
    } catch {
      throw new BerthError('Unavailable', `token service ${url.origin} for ${this.opts.registry}: invalid JSON`);
    }
    const tok = tokenFromResponse(parsed);
    if (!tok) throw new BerthError('Unavailable', `token service ${url.origin} for ${this.opts.registry}: no token in the answer`);
    if (parsed.refresh_token) this.identityToken = parsed.refresh_token;
    this.tokens.set(key, tok);
    return tok.token;
  }
}
