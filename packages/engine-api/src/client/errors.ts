import {
  BerthError,
  ConflictError,
  InvalidArgumentError,
  NotFoundError,
  UnauthorizedError,
  UnsupportedError,
} from '@berth/image-format';

/** A BerthError that came back from the daemon, with the HTTP status it carried. */
export type ApiError = BerthError & { statusCode: number };

/** Maps an error response (status + `{message}` body) to the matching typed BerthError. */
export function errorFromResponse(statusCode: number, body: string): ApiError {
  let message = body.trim();
  try {
    const parsed = JSON.parse(body) as { message?: unknown };
    if (parsed && typeof parsed.message === 'string') message = parsed.message;
  } catch {
    // Not JSON: Docker sends plain text for a few errors (404 of unknown routes on old daemons).
  }
  if (message === '') message = `request failed with status ${statusCode}`;
  let err: BerthError;
  switch (statusCode) {
    case 400:
      err = new InvalidArgumentError(message);
      break;
    case 401:
      err = new UnauthorizedError(message);
      break;
    case 403:
      err = new BerthError('Forbidden', message);
      break;
    case 404:
      err = new NotFoundError(message);
      break;
    case 409:
      err = new ConflictError(message);
      break;
    case 501:
      err = new UnsupportedError(message);
      break;
    case 503:
      err = new BerthError('Unavailable', message);
      break;
    default:
      err = new BerthError('Internal', message);
  }
  return Object.assign(err, { statusCode });
}

/** The HTTP status berthd sends for a BerthError code (and for any other error: 500). */
export function statusForError(err: unknown): number {
  const code = err instanceof BerthError ? err.code : undefined;
  switch (code) {
    case 'NotFound':
      return 404;
    case 'Conflict':
      return 409;
    case 'InvalidArgument':
      return 400;
    case 'Unauthorized':
      return 401;
    case 'Forbidden':
      return 403;
    case 'Unsupported':
      return 501;
    case 'Unavailable':
      return 503;
    default:
      return 500;
  }
}
