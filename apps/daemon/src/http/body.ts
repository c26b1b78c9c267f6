import type { FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import { InvalidArgumentError } from '@berth/image-format';
import { EMPTY_BODY_MESSAGE } from './messages.js';

/** A JSON body that must be there (POST /containers/create, /networks/create, ...). */
export function requiredJson<T>(request: FastifyRequest): T {
  const body = request.body;
  if (body === undefined || body === null) throw new InvalidArgumentError(EMPTY_BODY_MESSAGE);
  if (body instanceof Readable) {
    throw new InvalidArgumentError(`unsupported Content-Type header (${request.headers['content-type'] ?? ''}): must be 'application/json'`);
  }
  return body as T;
}

/** A JSON body that may be absent (Docker accepts empty bodies on most POSTs). */
export function optionalJson<T>(request: FastifyRequest): T | undefined {
  const body = request.body;
  if (body === undefined || body === null || body instanceof Readable) return undefined;
  return body as T;
}

/** The raw request stream (tar bodies for load and import). */
export function rawBody(request: FastifyRequest): Readable {
  const body = request.body;
  if (body instanceof Readable) return body;
  if (body === undefined) return request.raw;
  // A JSON content type on a tar upload: fastify already parsed it; hand back the bytes.
  return Readable.from([Buffer.from(typeof body === 'string' ? body : JSON.stringify(body))]);
}
