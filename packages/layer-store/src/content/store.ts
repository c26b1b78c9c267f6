import type { Readable } from 'node:stream';
import { ConflictError, type Digest } from '@berth/image-format';

/** What the store knows about one committed blob. */
export interface BlobInfo {
  digest: Digest;
  size: number;
  createdAt: Date;
  updatedAt: Date;
  labels: Record<string, string>;
}

/** An ingest in progress (or interrupted): `offset` bytes are on disk under `ref`. */
export interface IngestStatus {
  ref: string;
  offset: number;
  total?: number;
  expected?: Digest;
  startedAt: Date;
  updatedAt: Date;
}

export interface Expected {
  digest: Digest;
  size: number;
}

export interface WriterOptions {
  /** The digest the content must have; verified at commit. */
  expected?: Digest;
  /** The total size the content must have, when known; verified at commit. */
  total?: number;
  labels?: Record<string, string>;
}

/**
 * An open ingest. Only one writer per ref (and per expected digest) exists at a time,
 * across processes. Bytes are hashed as they are written; `commit` fsyncs, verifies the
 * digest and size, and renames the file into place. `close` keeps the partial data for a
 * later resume; `abort` deletes it.
 */
export interface ContentWriter {
  readonly ref: string;
  /** Bytes on disk when the writer opened (a resumed ingest); the next write appends. */
  readonly offset: number;
  /** Bytes on disk now. */
  readonly written: number;
  /** Appends a whole stream; resolves when every byte is written. */
  append(data: Readable | Uint8Array): Promise<void>;
  /** Truncates the ingest to `offset` bytes and re-hashes what remains. */
  truncate(offset: number): Promise<void>;
  /**
   * Verifies and publishes the blob. Throws DigestMismatchError (size or digest) after
   * deleting the partial data; throws BlobExistsError when the blob was committed by
   * someone else meanwhile (the ingest is dropped — the content is there).
   */
  commit(size?: number, expected?: Digest, labels?: Record<string, string>): Promise<Digest>;
  /** Releases the ref, keeping the partial data for a resume. */
  close(): Promise<void>;
  /** Releases the ref and deletes the partial data. */
  abort(): Promise<void>;
}

/**
 * The sink registry-client writes pulled blobs into. `write` with `offset > 0` appends
 * `data` to the partial ingest (the first `offset` bytes are already on disk, see
 * `ingestedBytes`); the whole blob's digest and size are verified at the end.
 */
export interface BlobSink {
  has(digest: Digest): Promise<boolean>;
  ingestedBytes(ref: string): Promise<number>;
  write(ref: string, expected: Expected, data: Readable, opts?: { offset?: number }): Promise<void>;
}

/**
 * Blobs kept by digest.
 *
 * Contract:
 * - A blob becomes visible (`info`, `read`, `list`) only once its whole content has been
 *   written, fsynced, verified against the expected digest and size, and renamed into
 *   place. A crash at any moment leaves only whole, verified blobs.
 * - Ingests are named by a caller-chosen `ref` and survive restarts so an interrupted
 *   download resumes from the bytes on disk; a resumed writer re-hashes the prefix.
 * - Two concurrent ingests of one digest write it once: the second waits for the first
 *   and then finds the blob present.
 * - Missing blobs raise NotFoundError; bad digests InvalidArgumentError.
 */
export interface ContentStore extends BlobSink {
  info(digest: Digest): Promise<BlobInfo>;
  /** Streams the blob; with `verify`, the stream errors with DigestMismatchError at its end
   * if the bytes on disk no longer hash to the digest. */
  read(digest: Digest, opts?: { verify?: boolean; offset?: number }): Promise<Readable>;
  /** The blob's path on disk, for consumers that need a file (e.g. `zstd -dc`). */
  path(digest: Digest): string;
  delete(digest: Digest): Promise<void>;
  list(): AsyncIterable<BlobInfo>;
  /** Replaces the given labels; an empty value removes the label. Returns all labels. */
  setLabels(digest: Digest, labels: Record<string, string>): Promise<Record<string, string>>;
  /** Opens (or resumes) an ingest. Throws BlobExistsError when `expected` is already stored. */
  writer(ref: string, opts?: WriterOptions): Promise<ContentWriter>;
  /** Ingests a whole stream under an expected digest and size; a no-op when present. */
  ingest(ref: string, expected: Expected, data: Readable | Uint8Array, labels?: Record<string, string>): Promise<void>;
  ingestStatus(ref: string): Promise<IngestStatus | undefined>;
  listIngests(): Promise<IngestStatus[]>;
  abortIngest(ref: string): Promise<void>;
}

/** The blob is already stored (a writer for it was opened or committed). */
export class BlobExistsError extends ConflictError {
  readonly digest: Digest;
  constructor(digest: Digest) {
    super(`content ${digest} already exists`);
    this.digest = digest;
  }
}
