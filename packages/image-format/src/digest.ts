import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { DigestMismatchError, InvalidArgumentError } from './errors.js';

/** A content digest in its canonical `algorithm:hex` form, e.g. `sha256:e3b0...`. */
export type Digest = `${string}:${string}`;
export type DigestAlgorithm = 'sha256' | 'sha512';

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
}

/** Parses and validates a digest; throws InvalidArgument naming what is wrong. */
export function parseDigest(value: string): ParsedDigest {
  if (typeof value !== 'string') throw new InvalidArgumentError('digest must be a string');
  const colon = value.indexOf(':');
  if (colon <= 0) throw new InvalidArgumentError(`invalid digest "${value}": missing algorithm`);
  const algorithm = value.slice(0, colon);
  const hex = value.slice(colon + 1);
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    throw new InvalidArgumentError(`invalid digest "${value}": unsupported algorithm "${algorithm}"`);
  }
  if (hex.length !== HEX_LENGTH[algorithm] || !/^[a-f0-9]+$/.test(hex)) {
    throw new InvalidArgumentError(
      `invalid digest "${value}": ${algorithm} needs ${HEX_LENGTH[algorithm]} lowercase hex characters`,
    );
  }
  return { algorithm, hex };
}

export function isDigest(value: unknown): value is Digest {
  try {
    parseDigest(value as string);
    return true;
  } catch {
    return false;
  }
}

/** Validates and returns the digest, typed. */
export function toDigest(value: string): Digest {
  parseDigest(value);
  return value as Digest;
}

export function digestOf(data: string | Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

/**
 * A pass-through stream that hashes and counts what flows through it.
 * `digest()` and `size` are final once the stream has ended.
 */
export class Digester extends Transform {
  readonly algorithm: DigestAlgorithm;
  size = 0;
  private readonly hash: Hash;
  private result: Digest | undefined;

  constructor(algorithm: DigestAlgorithm = 'sha256') {
    super();
    this.algorithm = algorithm;
    this.hash = createHash(algorithm);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.result = `${this.algorithm}:${this.hash.digest('hex')}`;
    cb();
  }

  digest(): Digest {
    if (!this.result) throw new Error('Digester.digest() called before the stream ended');
    return this.result;
  }
}

/** Throws DigestMismatch unless `actual` equals `expected`. */
export function verifyDigest(expected: Digest, actual: Digest, what?: string): void {
  if (expected !== actual) throw new DigestMismatchError(expected, actual, what);
}
