// Small hand-written validators. Each takes the value and its field path
// (`manifest.layers[2].digest`) and throws InvalidArgument naming that path.
import { parseDigest, type Digest } from './digest.js';
import { InvalidArgumentError } from './errors.js';

export type JsonObject = Record<string, unknown>;

export function fail(path: string, why: string): never {
  throw new InvalidArgumentError(`${path}: ${why}`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? `"${value.length > 80 ? value.slice(0, 80) + '...' : value}"` : typeof value;
}

export function object(value: unknown, path: string): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(path, `must be an object, got ${describe(value)}`);
  return value as JsonObject;
}

export function string(value: unknown, path: string): string {
  if (typeof value !== 'string') fail(path, `must be a string, got ${describe(value)}`);
  return value;
}

export function optString(value: unknown, path: string): string | undefined {
  return value === undefined ? undefined : string(value, path);
}

export function integer(value: unknown, path: string, min = Number.MIN_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) fail(path, `must be an integer, got ${describe(value)}`);
  if (value < min) fail(path, `must be at least ${min}, got ${value}`);
  return value;
}

export function optInteger(value: unknown, path: string, min?: number): number | undefined {
  return value === undefined ? undefined : integer(value, path, min);
}

export function boolean(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') fail(path, `must be a boolean, got ${describe(value)}`);
  return value;
}

export function array<T>(value: unknown, path: string, item: (v: unknown, p: string) => T): T[] {
  if (!Array.isArray(value)) fail(path, `must be an array, got ${describe(value)}`);
  return value.map((v, i) => item(v, `${path}[${i}]`));
}

/** Docker writes `null` for empty lists and maps; accept it as absent. */
export function optArray<T>(value: unknown, path: string, item: (v: unknown, p: string) => T): T[] | undefined {
  return value === undefined || value === null ? undefined : array(value, path, item);
}

export function stringMap(value: unknown, path: string): Record<string, string> {
  const o = object(value, path);
  for (const [k, v] of Object.entries(o)) string(v, `${path}["${k}"]`);
  return o as Record<string, string>;
}

export function optStringMap(value: unknown, path: string): Record<string, string> | undefined {
  return value === undefined || value === null ? undefined : stringMap(value, path);
}

/** A set written as `{ "80/tcp": {} }`. */
export function optEmptyObjectMap(value: unknown, path: string): Record<string, object> | undefined {
  if (value === undefined || value === null) return undefined;
  const o = object(value, path);
  for (const [k, v] of Object.entries(o)) object(v, `${path}["${k}"]`);
  return o as Record<string, object>;
}

export function digest(value: unknown, path: string): Digest {
  const s = string(value, path);
  try {
    parseDigest(s);
  } catch (err) {
    fail(path, (err as Error).message);
  }
  return s as Digest;
}

// RFC 6838 restricted names, as the OCI spec's JSON schema checks them.
const MEDIA_TYPE_RE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

export function mediaType(value: unknown, path: string): string {
  const s = string(value, path);
  if (!MEDIA_TYPE_RE.test(s)) fail(path, `invalid media type "${s}"`);
  return s;
}

export function optMediaType(value: unknown, path: string): string | undefined {
  return value === undefined ? undefined : mediaType(value, path);
}

/** Parses JSON bytes, refusing oversize input before parsing it. */
export function parseJsonBytes(bytes: Uint8Array | string, what: string, maxBytes: number): unknown {
  const size = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
  if (size > maxBytes) fail(what, `${size} bytes exceeds the ${maxBytes}-byte limit`);
  const text = typeof bytes === 'string' ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    fail(what, `malformed JSON: ${(err as Error).message}`);
  }
}
