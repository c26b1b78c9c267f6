import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, InvalidArgumentError } from '@berth/image-format';
import { errorFromResponse, statusForError } from './errors.js';

describe('error mapping', () => {
  it('maps status codes to typed errors with the message', () => {
    const e = errorFromResponse(404, '{"message":"No such container: x"}\n');
    expect(e).toBeInstanceOf(NotFoundError);
    expect(e.message).toBe('No such container: x');
    expect(e.statusCode).toBe(404);
    expect(errorFromResponse(409, '{"message":"c"}')).toBeInstanceOf(ConflictError);
    expect(errorFromResponse(400, 'plain text')).toBeInstanceOf(InvalidArgumentError);
    expect(errorFromResponse(400, 'plain text').message).toBe('plain text');
    expect(errorFromResponse(503, '').code).toBe('Unavailable');
    expect(errorFromResponse(500, '{"message":"boom"}').code).toBe('Internal');
  });
  it('round-trips codes to statuses', () => {
    for (const s of [400, 401, 403, 404, 409, 500, 501, 503]) {
      expect(statusForError(errorFromResponse(s, '{"message":"m"}'))).toBe(s);
    }
    expect(statusForError(new Error('x'))).toBe(500);
  });
});
