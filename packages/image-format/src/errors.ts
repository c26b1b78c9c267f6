/** Every error Berth raises carries a stable code that berthd maps to an HTTP status. */
export type ErrorCode =
  | 'NotFound'
  | 'Conflict'
  | 'InvalidArgument'
  | 'Unauthorized'
  | 'Forbidden'
  | 'DigestMismatch'
  | 'Unsupported'
  | 'Unavailable'
  | 'Internal';

export class BerthError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = code + 'Error';
  }
}

export class NotFoundError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NotFound', message, options);
  }
}
export class ConflictError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('Conflict', message, options);
  }
}
export class InvalidArgumentError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('InvalidArgument', message, options);
  }
}
export class UnauthorizedError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('Unauthorized', message, options);
  }
}
export class UnsupportedError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('Unsupported', message, options);
  }
}
export class DigestMismatchError extends BerthError {
  readonly expected: string;
  readonly actual: string;
  constructor(expected: string, actual: string, what = 'content') {
    super('DigestMismatch', `digest mismatch for ${what}: expected ${expected}, got ${actual}`);
    this.expected = expected;
    this.actual = actual;
  }
}

export function isBerthError(err: unknown): err is BerthError {
  return err instanceof BerthError;
}
