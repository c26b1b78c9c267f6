// Docker's query strings: booleans as 1/0, lists as repeated keys, filters as JSON.
import type { Filters } from '../types/common.js';

export type QueryValue = string | number | boolean | undefined | null | string[] | Filters;
export type Query = Record<string, QueryValue>;

/**
 * `?a=1&b=x`, or '' for nothing to send. Shared by the client and by callers that speak
 * to the daemon without it (the CLI's fast `ps`), so both send the same request.
 */
export function encodeQuery(query: Query | undefined): string {
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
