import type { Readable } from 'node:stream';
import type { Digest } from '@berth/image-format';

/** The digest and size a blob must have. */
export interface ExpectedBlob {
  digest: Digest;
  size: number;
}

/**
 * Where pulled blobs go. layer-store's content store satisfies this; registry-client
 * knows nothing else about storage.
 *
 * Contract:
 * - `has(digest)`: the blob is committed (whole and verified).
 * - `ingestedBytes(ref)`: bytes of an unfinished ingest named `ref` kept from an earlier
 *   broken transfer (0 when none).
 * - `write(ref, expected, data, {offset})`: consumes `data` into the ingest `ref`. With
 *   `offset > 0`, `data` continues the partial ingest from byte `offset` (the sink
 *   re-hashes the bytes it has); with offset 0 any partial ingest is discarded first.
 *   Resolves once the whole blob is verified against `expected` and committed. If `data`
 *   errors, rejects with that error and KEEPS the bytes written so far (for a resume).
 *   If the finished content has the wrong digest or size, rejects with
 *   DigestMismatchError, discards the ingest, and commits nothing.
 */
export interface BlobSink {
  has(digest: Digest): Promise<boolean>;
  ingestedBytes(ref: string): Promise<number>;
  write(ref: string, expected: ExpectedBlob, data: Readable, opts?: { offset?: number }): Promise<void>;
}

/** Where pushed blobs come from. */
export interface BlobSource {
  /** A fresh stream of the whole blob; may be called again to restart an upload. */
  open(digest: Digest): Promise<Readable>;
  size(digest: Digest): Promise<number>;
}

export type BlobState = 'waiting' | 'downloading' | 'uploading' | 'verifying' | 'done' | 'exists' | 'mounted';

/** One progress event for one blob; a CLI draws one bar per `id`. */
export interface ProgressEvent {
  /** Short digest: the first 12 hex characters. */
  id: string;
  digest: Digest;
  mediaType: string;
  state: BlobState;
  current: number;
  total: number;
  /** Set on the first event of a resumed transfer: the byte it resumed from. */
  resumedFrom?: number;
}

export function shortId(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1, digest.indexOf(':') + 13);
}
