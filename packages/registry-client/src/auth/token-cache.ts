/** A bearer token and when it stops being usable (ms since epoch). */
export interface CachedToken {
  token: string;
  expiresAt: number;
}

/** The token response of a Docker/OCI token service. */
export interface TokenResponse {
  token?: string;
  access_token?: string;
  expires_in?: number;
  issued_at?: string;
  refresh_token?: string;
}

/** The spec's default lifetime when a token service omits `expires_in`. */
export const DEFAULT_TOKEN_LIFETIME_S = 60;

/**
 * Converts a token response into a cache entry. The entry expires a little before the
 * token does (10 s, or a tenth of a short lifetime) so a request never carries a token
 * that dies in flight.
 */
export function tokenFromResponse(body: TokenResponse, now = Date.now()): CachedToken | undefined {
  const token = body.token || body.access_token;
  if (!token) return undefined;
  const lifetime = body.expires_in && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_LIFETIME_S;
  let issued = now;
  if (body.issued_at) {
    const t = Date.parse(body.issued_at);
    // a token service's clock may differ from ours: trust issued_at only when it is not in the future
    if (!Number.isNaN(t) && t <= now) issued = t;
  }
  const margin = Math.min(10_000, (lifetime * 1000) / 10);
  return { token, expiresAt: issued + lifetime * 1000 - margin };
}

/** Bearer tokens keyed by realm, service and the sorted scope set. */
export class TokenCache {
  private readonly entries = new Map<string, CachedToken>();

  constructor(private readonly clock: () => number = Date.now) {}

  static key(realm: string, service: string, scopes: readonly string[]): string {
    return `${realm}\n${service}\n${[...new Set(scopes)].sort().join(' ')}`;
  }

  get(key: string): string | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= this.clock()) {
      this.entries.delete(key);
      return undefined;
    }
    return e.token;
  }

  set(key: string, token: CachedToken): void {
    this.entries.set(key, token);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}
