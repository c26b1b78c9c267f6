import { BerthError, NotFoundError, UnauthorizedError, type ErrorCode } from '@berth/image-format';
import type { Dispatcher } from 'undici';

interface DistributionError {
  code?: string;
  message?: string;
  detail?: unknown;
}

const MAX_ERROR_BODY = 64 * 1024;

/** Reads the registry's `{"errors":[...]}` body into one line, e.g. `manifest unknown: manifest unknown`. */
export async function readErrorBody(res: { body: Dispatcher.ResponseData['body'] }): Promise<string> {
  let text = '';
  try {
    for await (const chunk of res.body) {
      text += (chunk as Buffer).toString('utf8');
      if (text.length > MAX_ERROR_BODY) break;
    }
  } catch {
    return '';
  } finally {
    res.body.destroy();
  }
  try {
    const parsed = JSON.parse(text) as { errors?: DistributionError[] };
    if (Array.isArray(parsed.errors) && parsed.errors.length) {
      return parsed.errors
        .map((e) => (e.code ? `${e.code.toLowerCase().replace(/_/g, ' ')}${e.message ? `: ${e.message}` : ''}` : (e.message ?? '')))
        .join('; ');
    }
  } catch {
    // not JSON: fall through to the raw text
  }
  return text.trim().slice(0, 200);
}

/** A typed error for an unexpected registry status. `what` names the object (a reference, a digest). */
export function statusError(status: number, what: string, detail: string): BerthError {
  const suffix = detail ? ` (${detail})` : '';
  if (status === 404) return new NotFoundError(`not found: ${what}${suffix}`);
  if (status === 401) return new UnauthorizedError(`unauthorized: ${what}${suffix}`);
  let code: ErrorCode = 'Internal';
  if (status === 403) code = 'Forbidden';
  else if (status === 400 || status === 405 || status === 413 || status === 416) code = 'InvalidArgument';
  else if (status === 409) code = 'Conflict';
  else if (status === 429 || status >= 500) code = 'Unavailable';
  return new BerthError(code, `registry answered ${status} for ${what}${suffix}`);
}
