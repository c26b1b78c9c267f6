import type { FastifyRequest } from 'fastify';
import type { JsonSchema } from '@berth/engine-api';

/**
 * Go's encoding/json matches field names case-insensitively, and clients rely on it:
 * docker-py sends `CPURealtimePeriod` in HostConfig and `detachKeys` in an exec body.
 * Renames such keys to the schema's spelling (recursively through nested object schemas)
 * so validation and the engine see Docker's names; a key already spelled right wins.
 */
export function canonicalNames(value: unknown, schema: JsonSchema): void {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return;
  const props = schema['properties'] as Record<string, JsonSchema> | undefined;
  if (!props) return;
  const byLower = new Map(Object.keys(props).map((k) => [k.toLowerCase(), k]));
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (key in props) continue;
    const canonical = byLower.get(key.toLowerCase());
    if (!canonical || canonical in obj) continue;
    obj[canonical] = obj[key];
    delete obj[key];
  }
  for (const [key, sub] of Object.entries(props)) canonicalNames(obj[key], sub);
}

/** A preValidation hook that gives a JSON body the schema's key spellings. */
export function withCanonicalNames(schema: JsonSchema): (request: FastifyRequest) => Promise<void> {
  return async (request) => canonicalNames(request.body, schema);
}
