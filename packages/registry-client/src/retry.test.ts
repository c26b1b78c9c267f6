import { describe, expect, it } from 'vitest';
import { backoffDelay, isNetworkError, parseRetryAfter, retryDelay } from './retry.js';

const opts = { attempts: 5, baseDelayMs: 100, maxDelayMs: 1_000 };

describe('retry', () => {
  it('backs off exponentially with jitter and a cap', () => {
    for (let i = 0; i < 20; i++) {
      expect(backoffDelay(0, opts)).toBeGreaterThanOrEqual(75);
      expect(backoffDelay(0, opts)).toBeLessThanOrEqual(125);
      expect(backoffDelay(10, opts)).toBeLessThanOrEqual(1_000);
    }
  });

  it('parses Retry-After seconds and dates', () => {
    expect(parseRetryAfter('3')).toBe(3_000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });

  it('honours Retry-After above the backoff, within 4x the cap', () => {
    expect(retryDelay(0, opts, '2')).toBe(2_000);
    expect(retryDelay(0, opts, '3600')).toBe(4_000);
  });

  it('recognises connection failures through causes', () => {
    expect(isNetworkError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isNetworkError(new Error('y', { cause: Object.assign(new Error('z'), { code: 'UND_ERR_SOCKET' }) }))).toBe(true);
    expect(isNetworkError(new Error('plain'))).toBe(false);
    // a name that does not exist is final; a resolver that could not answer is not
    expect(isNetworkError(Object.assign(new Error('n'), { code: 'ENOTFOUND' }))).toBe(false);
    expect(isNetworkError(Object.assign(new Error('a'), { code: 'EAI_AGAIN' }))).toBe(true);
  });
});
