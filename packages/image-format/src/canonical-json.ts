import { digestOf } from './digest.js';
import type { Descriptor } from './descriptor.js';
import { InvalidArgumentError } from './errors.js';

function sortValue(value: unknown, path: string): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new InvalidArgumentError(`${path}: ${value} cannot be written as JSON`);
    return value;
  }
  if (Array.isArray(value)) return value.map((v, i) => (v === undefined ? null : sortValue(v, `${path}[${i}]`)));
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = sortValue(v, `${path}.${k}`);
    }
    return out;
  }
  throw new InvalidArgumentError(`${path}: a ${typeof value} cannot be written as JSON`);
}

/**
 * The one byte form Berth writes configs, manifests and indexes in: keys sorted by
 * UTF-16 code unit, no insignificant whitespace, undefined members dropped. The same
 * content therefore always has the same digest.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortValue(value, '$'));
}

export interface Blob {
  bytes: Buffer;
  descriptor: Descriptor;
}

/** Serialises `value` canonically and describes it with `mediaType`. */
export function jsonBlob(value: unknown, mediaType: string): Blob {
  const bytes = Buffer.from(canonicalJson(value), 'utf8');
  return { bytes, descriptor: { mediaType, digest: digestOf(bytes), size: bytes.length } };
}

/** A manifest or index as bytes plus its descriptor; it must carry its `mediaType`. */
export function manifestBlob(m: { mediaType?: string }): Blob {
  if (!m.mediaType) throw new InvalidArgumentError('manifest.mediaType: required to write a manifest');
  return jsonBlob(m, m.mediaType);
}
