/** Bounds for retrying 429/5xx answers and broken connections. */
export interface RetryOptions {
  /** Total tries, the first included (default 6). */
  attempts: number;
  /** First backoff; doubles each time (default 250 ms). */
  baseDelayMs: number;
  /** Cap of one backoff (default 8 s); also caps an honoured Retry-After (x4). */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 6, baseDelayMs: 250, maxDelayMs: 8_000 };

/** Exponential backoff with jitter: `base * 2^n`, scaled by 0.75-1.25, capped. */
export function backoffDelay(attempt: number, opts: RetryOptions): number {
  const raw = opts.baseDelayMs * 2 ** attempt;
  return Math.min(opts.maxDelayMs, raw * (0.75 + Math.random() * 0.5));
}

/** Parses `Retry-After` (delta-seconds or an HTTP date) into milliseconds from `now`. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\s*\d+\s*$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - now);
}

/** The delay before retry `attempt`: the larger of the backoff and Retry-After, bounded. */
export function retryDelay(attempt: number, opts: RetryOptions, retryAfter?: string | string[]): number {
  const b = backoffDelay(attempt, opts);
  const ra = parseRetryAfter(retryAfter);
  if (ra === undefined) return b;
  return Math.min(Math.max(b, ra), opts.maxDelayMs * 4);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

// ENOTFOUND is left out: a name the resolver says does not exist will not appear by
// waiting (Docker fails at once too), and retrying it made an offline pull take seconds.
const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN',
  'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'UND_ERR_ABORTED', 'ECONNABORTED',
]);

/** A failure of the connection itself, worth retrying for idempotent requests. */
export function isNetworkError(e: unknown): boolean {
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur; i++) {
    const code = (cur as { code?: string }).code;
    if (code && NETWORK_CODES.has(code)) return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}
