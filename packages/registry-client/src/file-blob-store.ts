import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, stat, truncate, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, finished, type Readable, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DigestMismatchError, InvalidArgumentError, NotFoundError, parseDigest, type Digest } from '@berth/image-format';
import type { BlobSink, BlobSource, ExpectedBlob } from './sink.js';

/**
 * Copies `data` through `hasher` into `out`. Unlike pipeline(), a failing source does not
 * throw away what it already delivered: the bytes in flight are written out before the
 * promise rejects with the source's error, so a resume can start after them.
 */
function keepingWhatArrived(data: Readable, hasher: Transform, out: Writable): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let sourceError: Error | undefined;
    let settled = false;
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      data.destroy();
      hasher.destroy();
      out.destroy();
      reject(e);
    };
    // finished() also reports a source that failed or closed before we got here
    finished(data, (e) => {
      if (!e || sourceError) return;
      sourceError = e;
      data.unpipe(hasher);
      hasher.end();
    });
    hasher.on('error', fail);
    out.on('error', fail);
    out.once('close', () => {
      if (settled) return;
      settled = true;
      if (sourceError) reject(sourceError);
      else resolve();
    });
    data.pipe(hasher).pipe(out);
  });
}

/**
 * A minimal directory of blobs (`blobs/<alg>/<hex>`) with resumable ingests
 * (`ingest/<ref>`): a real BlobSink and BlobSource for tests, benchmarks and tools that
 * need no metadata. Commits are fsynced and renamed into place after verification.
 */
export class FileBlobStore implements BlobSink, BlobSource {
  /** Writers of one ref take turns (two pulls sharing a layer in one process). */
  private readonly writing = new Map<string, Promise<void>>();

  constructor(
    readonly root: string,
    private readonly opts: { fsync?: boolean } = {},
  ) {}

  blobPath(digest: Digest): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.root, 'blobs', algorithm, hex);
  }

  private ingestPath(ref: string): string {
    if (!ref || ref.length > 200) throw new InvalidArgumentError(`invalid ingest ref "${ref}"`);
    return join(this.root, 'ingest', ref.replace(/[^A-Za-z0-9._-]/g, '_'));
  }

  async has(digest: Digest): Promise<boolean> {
    try {
      await stat(this.blobPath(digest));
      return true;
    } catch {
      return false;
    }
  }

  async ingestedBytes(ref: string): Promise<number> {
    try {
      return (await stat(this.ingestPath(ref))).size;
    } catch {
      return 0;
    }
  }

  async write(ref: string, expected: ExpectedBlob, data: Readable, opts: { offset?: number } = {}): Promise<void> {
    const before = this.writing.get(ref);
    const mine = (async () => {
      if (before) await before.catch(() => {});
      if (await this.has(expected.digest)) {
        data.destroy();
        return;
      }
      await this.writeNow(ref, expected, data, opts);
    })();
    this.writing.set(ref, mine);
    try {
      await mine;
    } finally {
      if (this.writing.get(ref) === mine) this.writing.delete(ref);
    }
  }

  private async writeNow(ref: string, expected: ExpectedBlob, data: Readable, opts: { offset?: number }): Promise<void> {
    const { algorithm } = parseDigest(expected.digest);
    const path = this.ingestPath(ref);
    await mkdir(join(this.root, 'ingest'), { recursive: true });
    const hash = createHash(algorithm);
    let offset = opts.offset ?? 0;
    if (offset > 0) {
      const have = await this.ingestedBytes(ref);
      if (have < offset) {
        data.destroy();
        throw new InvalidArgumentError(`ingest ${ref} has ${have} bytes, cannot resume at ${offset}`);
      }
      if (have > offset) await truncate(path, offset);
      // a resumed writer re-hashes what it already has
      await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), new Transform({
        transform(chunk: Buffer, _e, cb) {
          hash.update(chunk);
          cb();
        },
      }));
    } else {
      offset = 0;
    }
    let size = offset;
    const hasher = new Transform({
      transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback) {
        hash.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    const fsync = this.opts.fsync ?? true;
    // `flush` fsyncs the descriptor before it closes: no second open just to sync
    const out = createWriteStream(path, { flags: offset > 0 ? 'a' : 'w', highWaterMark: 1 << 20, flush: fsync });
    await keepingWhatArrived(data, hasher, out);
    const actual = `${algorithm}:${hash.digest('hex')}` as Digest;
    if (actual !== expected.digest || size !== expected.size) {
      await unlink(path).catch(() => {});
      throw new DigestMismatchError(expected.digest, size !== expected.size ? `${actual} (${size} bytes, expected ${expected.size})` : actual, `blob ${expected.digest}`);
    }
    const final = this.blobPath(expected.digest);
    await mkdir(join(final, '..'), { recursive: true });
    await rename(path, final);
  }

  async open(digest: Digest): Promise<Readable> {
    const p = this.blobPath(digest);
    try {
      await stat(p);
    } catch {
      throw new NotFoundError(`blob unknown: ${digest}`);
    }
    return createReadStream(p, { highWaterMark: 1 << 20 });
  }

  async size(digest: Digest): Promise<number> {
    try {
      return (await stat(this.blobPath(digest))).size;
    } catch {
      throw new NotFoundError(`blob unknown: ${digest}`);
    }
  }
}
