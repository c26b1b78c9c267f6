import { describe, expect, it } from 'vitest';
import { TokenCache, tokenFromResponse } from './token-cache.js';

describe('tokenFromResponse', () => {
  it('accepts token or access_token, defaulting the lifetime to 60 s', () => {
    expect(tokenFromResponse({ token: 'a' }, 1_000_000)).toEqual({ token: 'a', expiresAt: 1_000_000 + 60_000 - 6_000 });
    expect(tokenFromResponse({ access_token: 'b', expires_in: 300 }, 0)).toEqual({ token: 'b', expiresAt: 300_000 - 10_000 });
    expect(tokenFromResponse({}, 0)).toBeUndefined();
  });

  it('counts the lifetime from issued_at unless it is in the future', () => {
    const now = Date.parse('2026-01-01T00:01:00Z');
    expect(tokenFromResponse({ token: 't', expires_in: 120, issued_at: '2026-01-01T00:00:00Z' }, now)!.expiresAt).toBe(
      Date.parse('2026-01-01T00:02:00Z') - 10_000,
    );
    expect(tokenFromResponse({ token: 't', expires_in: 120, issued_at: '2027-01-01T00:00:00Z' }, now)!.expiresAt).toBe(now + 110_000);
  });
});

describe('TokenCache', () => {
  it('keys by realm, service and the scope set regardless of order', () => {
    expect(TokenCache.key('r', 's', ['b', 'a', 'a'])).toBe(TokenCache.key('r', 's', ['a', 'b']));
    expect(TokenCache.key('r', 's', ['a'])).not.toBe(TokenCache.key('r', 's2', ['a']));
  });

  it('forgets a token once it expires', () => {
    let now = 0;
    const cache = new TokenCache(() => now);
    cache.set('k', { token: 't', expiresAt: 100 });
    expect(cache.get('k')).toBe('t');
    now = 100;
    expect(cache.get('k')).toBeUndefined();
    expect(cache.size).toBe(0);
  });
});
