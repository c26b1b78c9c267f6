import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import {
  DigestMismatchError,
  InvalidArgumentError,
  NotFoundError,
  parseDigest,
  type Digest,
  type DigestAlgorithm,
} from '@berth/image-format';
import { layerStoreDb, type Db } from '../db/database.js';
import { acquireLock, lockHeld } from './lock.js';
import {
  BlobExistsError,
  type BlobInfo,
  type ContentStore,
  type ContentWriter,
  type Expected,
  type IngestStatus,
  type WriterOptions,
} from './store.js';

export interface FileContentStoreOptions {
  /** An already-open berth.db handle (the engine shares one); opened here when absent. */
  db?: Db;
  /** Interrupted ingests untouched for longer than this are deleted at open (default 24 h). */
  staleIngestMs?: number;
}

interface IngestMeta {
  ref: string;
  expected?: Digest;
  total?: number;
  startedAt: number;
}

/** Writes are gathered into buffers of this size: fewer syscalls, same memory bound. */
const WRITE_BATCH = 1 << 20;

/**
 * The on-disk content store: `<root>/content/blobs/<alg>/<hex>` for committed blobs,
 * `<root>/content/ingest/<hash of ref>/` for ingests, metadata in `<root>/berth.db`.
 */
export class FileContentStore implements ContentStore {
  readonly root: string;
  readonly db: Db;
  private readonly ownsDb: boolean;
  private readonly blobsDir: string;
  private readonly ingestDir: string;
  private readonly locksDir: string;

  private constructor(root: string, db: Db, ownsDb: boolean) {
    this.root = root;
    this.db = db;
    this.ownsDb = ownsDb;
    this.blobsDir = join(root, 'content', 'blobs');
    this.ingestDir = join(root, 'content', 'ingest');
    this.locksDir = join(root, 'content', 'ingest', '.locks');
  }

  /** Opens the store under `root`, creating it, and sweeps what a crash left behind. */
  static async open(root: string, opts: FileContentStoreOptions = {}): Promise<FileContentStore> {
    const { db, owned } = layerStoreDb(opts.db ?? root);
    const store = new FileContentStore(root, db, owned);
    await mkdir(join(store.blobsDir, 'sha256'), { recursive: true });
    await mkdir(store.locksDir, { recursive: true });
    await store.sweep(opts.staleIngestMs ?? 24 * 3600_000);
    return store;
  }

  close(): void {
    if (this.ownsDb) this.db.close();
  }

  path(digest: Digest): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.blobsDir, algorithm, hex);
  }

  async has(digest: Digest): Promise<boolean> {
    try {
      return (await stat(this.path(digest))).isFile();
    } catch {
      return false;
    }
  }

  async info(digest: Digest): Promise<BlobInfo> {
    const st = await stat(this.path(digest)).catch(() => {
      throw new NotFoundError(`content ${digest} not found`);
    });
    const row = this.db.prepare('SELECT created_at, updated_at FROM ls_blobs WHERE digest = ?').get(digest) as
      | { created_at: number; updated_at: number }
      | undefined;
    return {
      digest,
      size: st.size,
      createdAt: new Date(row?.created_at ?? st.mtimeMs),
      updatedAt: new Date(row?.updated_at ?? st.mtimeMs),
      labels: this.labelsOf(digest),
    };
  }

  async read(digest: Digest, opts: { verify?: boolean; offset?: number } = {}): Promise<Readable> {
    const path = this.path(digest);
    const fh = await open(path, 'r').catch(() => {
      throw new NotFoundError(`content ${digest} not found`);
    });
    const stream = fh.createReadStream({ start: opts.offset ?? 0, highWaterMark: 1 << 20 });
    if (!opts.verify) return stream;
    if (opts.offset) throw new InvalidArgumentError('verify needs the whole blob: offset must be 0');
    const check = new VerifyStream(digest);
    stream.on('error', (err) => check.destroy(err));
    return stream.pipe(check);
  }

  async delete(digest: Digest): Promise<void> {
    try {
      await unlink(this.path(digest));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`content ${digest} not found`);
      throw err;
    }
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM ls_blobs WHERE digest = ?').run(digest);
      this.db.prepare('DELETE FROM ls_labels WHERE digest = ?').run(digest);
    })();
  }

  async *list(): AsyncIterable<BlobInfo> {
    for (const algorithm of ['sha256', 'sha512'] as DigestAlgorithm[]) {
      const names = await readdir(join(this.blobsDir, algorithm)).catch(() => [] as string[]);
      for (const hex of names.sort()) {
        const digest = `${algorithm}:${hex}` as Digest;
        try {
          parseDigest(digest);
          yield await this.info(digest);
        } catch {
          // Not a blob (or deleted meanwhile).
        }
      }
    }
  }

  async setLabels(digest: Digest, labels: Record<string, string>): Promise<Record<string, string>> {
    if (!(await this.has(digest))) throw new NotFoundError(`content ${digest} not found`);
    this.writeLabels(digest, labels);
    return this.labelsOf(digest);
  }

  private writeLabels(digest: Digest, labels: Record<string, string>): void {
    const put = this.db.prepare('INSERT OR REPLACE INTO ls_labels (digest, key, value) VALUES (?, ?, ?)');
    const del = this.db.prepare('DELETE FROM ls_labels WHERE digest = ? AND key = ?');
    this.db.transaction(() => {
      for (const [k, v] of Object.entries(labels)) {
        if (v === '') del.run(digest, k);
        else put.run(digest, k, v);
      }
    })();
  }

  private labelsOf(digest: Digest): Record<string, string> {
    const rows = this.db.prepare('SELECT key, value FROM ls_labels WHERE digest = ? ORDER BY key').all(digest) as {
      key: string;
      value: string;
    }[];
    return Object.fromEntries(rows.map((r) => [r.key, r.value]));
  }

  // ---- ingest ----

  private refDir(ref: string): string {
    if (typeof ref !== 'string' || ref.length === 0) throw new InvalidArgumentError('ingest ref must be a non-empty string');
    return join(this.ingestDir, createHash('sha256').update(ref).digest('hex'));
  }

  private lockPath(kind: 'ref' | 'digest', key: string): string {
    return join(this.locksDir, `${kind}-${createHash('sha256').update(key).digest('hex')}`);
  }

  async writer(ref: string, opts: WriterOptions = {}): Promise<ContentWriter> {
    if (opts.expected) parseDigest(opts.expected);
    const dir = this.refDir(ref);
    // The digest lock comes first: a second ingest of the same content waits here for
    // the first and then finds the blob present instead of writing it again.
    const releaseDigest = opts.expected ? await acquireLock(this.lockPath('digest', opts.expected)) : undefined;
    let releaseRef: (() => Promise<void>) | undefined;
    try {
      if (opts.expected && (await this.has(opts.expected))) throw new BlobExistsError(opts.expected);
      releaseRef = await acquireLock(this.lockPath('ref', ref));
      await mkdir(dir, { recursive: true });
      const metaPath = join(dir, 'meta.json');
      let meta = await readIngestMeta(metaPath);
      const fresh: IngestMeta = { ref, startedAt: Date.now(), ...(opts.expected ? { expected: opts.expected } : {}), ...(opts.total !== undefined ? { total: opts.total } : {}) };
      let restart = !meta;
      // Data ingested under another expectation is not the same content: start over.
      if (meta && opts.expected && meta.expected && meta.expected !== opts.expected) restart = true;
      if (meta && opts.total !== undefined && meta.total !== undefined && meta.total !== opts.total) restart = true;
      if (restart) {
        meta = fresh;
        await rm(join(dir, 'data'), { force: true });
        await writeIngestMeta(metaPath, meta);
      } else if (meta && ((opts.expected && !meta.expected) || (opts.total !== undefined && meta.total === undefined))) {
        meta = { ...meta, ...fresh, startedAt: meta.startedAt };
        await writeIngestMeta(metaPath, meta);
      }
      const fh = await open(join(dir, 'data'), 'a+');
      const w = new FileWriter(this, ref, dir, fh, meta!, opts.labels ?? {}, async () => {
        await releaseRef?.();
        await releaseDigest?.();
      });
      try {
        await w.init();
      } catch (err) {
        await w.close();
        throw err;
      }
      return w;
    } catch (err) {
      await releaseRef?.();
      await releaseDigest?.();
      throw err;
    }
  }

  async ingest(ref: string, expected: Expected, data: Readable | Uint8Array, labels?: Record<string, string>): Promise<void> {
    let w: ContentWriter;
    try {
      w = await this.writer(ref, { expected: expected.digest, total: expected.size, ...(labels ? { labels } : {}) });
    } catch (err) {
      if (err instanceof BlobExistsError) {
        if (data instanceof Readable) data.destroy();
        if (labels) this.writeLabels(expected.digest, labels);
        return;
      }
      throw err;
    }
    await this.finish(w, data, expected);
  }

  async ingestedBytes(ref: string): Promise<number> {
    return (await this.ingestStatus(ref))?.offset ?? 0;
  }

  async write(ref: string, expected: Expected, data: Readable, opts: { offset?: number } = {}): Promise<void> {
    let w: ContentWriter;
    try {
      w = await this.writer(ref, { expected: expected.digest, total: expected.size });
    } catch (err) {
      if (err instanceof BlobExistsError) {
        data.destroy();
        return;
      }
      throw err;
    }
    const offset = opts.offset ?? 0;
    try {
      if (offset > w.written) {
        throw new InvalidArgumentError(`ingest ${ref} has ${w.written} bytes on disk; cannot append at ${offset}`);
      }
      if (offset !== w.written) await w.truncate(offset);
    } catch (err) {
      await w.close();
      throw err;
    }
    await this.finish(w, data, expected);
  }

  private async finish(w: ContentWriter, data: Readable | Uint8Array, expected: Expected): Promise<void> {
    try {
      await w.append(data);
    } catch (err) {
      // A broken source keeps what arrived, for a resume; too many bytes is not resumable.
      if (err instanceof DigestMismatchError) await w.abort();
      else await w.close();
      throw err;
    }
    try {
      await w.commit(expected.size, expected.digest);
    } catch (err) {
      if (err instanceof BlobExistsError) return;
      throw err;
    }
  }

  async ingestStatus(ref: string): Promise<IngestStatus | undefined> {
    return this.statusOfDir(this.refDir(ref));
  }

  private async statusOfDir(dir: string): Promise<IngestStatus | undefined> {
    const meta = await readIngestMeta(join(dir, 'meta.json'));
    if (!meta) return undefined;
    const st = await stat(join(dir, 'data')).catch(() => undefined);
    return {
      ref: meta.ref,
      offset: st?.size ?? 0,
      ...(meta.total !== undefined ? { total: meta.total } : {}),
      ...(meta.expected ? { expected: meta.expected } : {}),
      startedAt: new Date(meta.startedAt),
      updatedAt: new Date(st?.mtimeMs ?? meta.startedAt),
    };
  }

  async listIngests(): Promise<IngestStatus[]> {
    const out: IngestStatus[] = [];
    for (const name of await readdir(this.ingestDir)) {
      if (name.startsWith('.')) continue;
      const s = await this.statusOfDir(join(this.ingestDir, name));
      if (s) out.push(s);
    }
    return out.sort((a, b) => a.ref.localeCompare(b.ref));
  }

  async abortIngest(ref: string): Promise<void> {
    const dir = this.refDir(ref);
    const release = await acquireLock(this.lockPath('ref', ref));
    try {
      if (!(await stat(dir).catch(() => undefined))) throw new NotFoundError(`ingest ${ref} not found`);
      await rm(dir, { recursive: true, force: true });
    } finally {
      await release();
    }
  }

  /** @internal Publishes a verified, fsynced ingest file as a blob. */
  async publish(dataPath: string, digest: Digest, size: number, labels: Record<string, string>): Promise<void> {
    const { algorithm } = parseDigest(digest);
    const dir = join(this.blobsDir, algorithm);
    await mkdir(dir, { recursive: true });
    await rename(dataPath, this.path(digest));
    // The rename is only durable once the directory is synced.
    const dh = await open(dir, 'r');
    await dh.sync().finally(() => dh.close());
    const now = Date.now();
    this.db
      .prepare('INSERT INTO ls_blobs (digest, size, created_at, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (digest) DO UPDATE SET updated_at = excluded.updated_at')
      .run(digest, size, now, now);
    if (Object.keys(labels).length) this.writeLabels(digest, labels);
  }

  /**
   * Startup sweep: drops ingests untouched for `staleMs` (unless a live process holds
   * them), lock files of dead processes, and reconciles ls_blobs with the files.
   */
  async sweep(staleMs: number): Promise<void> {
    const now = Date.now();
    for (const name of await readdir(this.ingestDir)) {
      if (name.startsWith('.')) continue;
      const dir = join(this.ingestDir, name);
      const s = await this.statusOfDir(dir);
      if (s && (await lockHeld(this.lockPath('ref', s.ref)))) continue;
      if (!s || now - s.updatedAt.getTime() >= staleMs) await rm(dir, { recursive: true, force: true });
    }
    for (const name of await readdir(this.locksDir)) {
      const p = join(this.locksDir, name);
      if (!(await lockHeld(p))) await unlink(p).catch(() => undefined);
    }
    const rows = this.db.prepare('SELECT digest FROM ls_blobs').all() as { digest: Digest }[];
    const known = new Set<string>();
    for (const { digest } of rows) {
      if (await this.has(digest)) known.add(digest);
      else {
        this.db.prepare('DELETE FROM ls_blobs WHERE digest = ?').run(digest);
        this.db.prepare('DELETE FROM ls_labels WHERE digest = ?').run(digest);
      }
    }
    // A crash between the rename and the insert leaves a whole, verified blob with no row.
    for (const algorithm of ['sha256', 'sha512']) {
      for (const hex of await readdir(join(this.blobsDir, algorithm)).catch(() => [] as string[])) {
        const digest = `${algorithm}:${hex}` as Digest;
        if (known.has(digest)) continue;
        const st = await stat(join(this.blobsDir, algorithm, hex));
        this.db.prepare('INSERT OR IGNORE INTO ls_blobs (digest, size, created_at, updated_at) VALUES (?, ?, ?, ?)').run(digest, st.size, st.mtimeMs, st.mtimeMs);
      }
    }
  }
}

class FileWriter implements ContentWriter {
  readonly ref: string;
  offset = 0;
  written = 0;
  private hash!: Hash;
  private closed = false;

  constructor(
    private readonly store: FileContentStore,
    ref: string,
    private readonly dir: string,
    private readonly fh: FileHandle,
    private readonly meta: IngestMeta,
    private readonly labels: Record<string, string>,
    private readonly release: () => Promise<void>,
  ) {
    this.ref = ref;
  }

  private algorithm(): DigestAlgorithm {
    return this.meta.expected ? parseDigest(this.meta.expected).algorithm : 'sha256';
  }

  /** Re-hashes the bytes already on disk: a hash state cannot be saved across processes. */
  async init(): Promise<void> {
    const size = (await this.fh.stat()).size;
    if (this.meta.total !== undefined && size > this.meta.total) {
      await this.fh.truncate(0);
      return this.init();
    }
    await this.rehash(size);
    this.offset = size;
  }

  private async rehash(size: number): Promise<void> {
    this.hash = createHash(this.algorithm());
    if (size > 0) {
      const rs = createReadStream('', { fd: this.fh.fd, start: 0, end: size - 1, autoClose: false, highWaterMark: 1 << 20 });
      for await (const chunk of rs) this.hash.update(chunk as Buffer);
    }
    this.written = size;
  }

  async truncate(offset: number): Promise<void> {
    this.check();
    await this.fh.truncate(offset);
    await this.rehash(offset);
  }

  async append(data: Readable | Uint8Array): Promise<void> {
    this.check();
    if (data instanceof Uint8Array) {
      this.hash.update(data);
      await this.fh.write(data, 0, data.length, this.written);
      this.written += data.length;
      return;
    }
    let batch: Buffer[] = [];
    let batchLen = 0;
    // One write in flight while the next megabyte is read and hashed.
    let inflight: Promise<unknown> = Promise.resolve();
    const flush = async () => {
      if (!batchLen) return;
      const bufs = batch;
      const at = this.written;
      batch = [];
      this.written += batchLen;
      batchLen = 0;
      await inflight;
      inflight = this.fh.writev(bufs, at);
    };
    try {
      for await (const chunk of data) {
        const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
        this.hash.update(buf);
        batch.push(buf);
        batchLen += buf.length;
        if (batchLen >= WRITE_BATCH) await flush();
        if (this.meta.total !== undefined && this.written + batchLen > this.meta.total) {
          await flush();
          throw new DigestMismatchError(this.meta.expected ?? 'size ' + this.meta.total, `more than ${this.meta.total} bytes`, `ingest ${this.ref}`);
        }
      }
      await flush();
    } finally {
      await inflight;
    }
  }

  async commit(size?: number, expected?: Digest, labels?: Record<string, string>): Promise<Digest> {
    this.check();
    const want = expected ?? this.meta.expected;
    const wantSize = size ?? this.meta.total;
    const actual = `${want ? parseDigest(want).algorithm : 'sha256'}:${this.hash.digest('hex')}` as Digest;
    const dataPath = join(this.dir, 'data');
    try {
      if (wantSize !== undefined && wantSize !== this.written) {
        throw new DigestMismatchError(want ?? `size ${wantSize}`, `${actual} (${this.written} bytes, expected ${wantSize})`, `ingest ${this.ref}`);
      }
      if (want && want !== actual) throw new DigestMismatchError(want, actual, `ingest ${this.ref}`);
      if (await this.store.has(actual)) throw new BlobExistsError(actual);
      await this.fh.sync();
      await this.fh.close();
      this.closed = true;
      await this.store.publish(dataPath, actual, this.written, { ...this.labels, ...labels });
      await rm(this.dir, { recursive: true, force: true });
      return actual;
    } catch (err) {
      if (!this.closed) await this.fh.close().catch(() => undefined);
      this.closed = true;
      await rm(this.dir, { recursive: true, force: true });
      throw err;
    } finally {
      await this.release();
    }
  }

  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      await this.fh.close().catch(() => undefined);
    }
    await this.release();
  }

  async abort(): Promise<void> {
    await this.close();
    await rm(this.dir, { recursive: true, force: true });
  }

  private check(): void {
    if (this.closed) throw new InvalidArgumentError(`writer for ${this.ref} is closed`);
  }
}

/** Passes bytes through and fails at the end if they do not hash to the digest. */
class VerifyStream extends Transform {
  private readonly hash: Hash;
  constructor(private readonly digest: Digest) {
    super();
    this.hash = createHash(parseDigest(digest).algorithm);
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    const actual = `${parseDigest(this.digest).algorithm}:${this.hash.digest('hex')}`;
    cb(actual === this.digest ? null : new DigestMismatchError(this.digest, actual, `stored blob ${this.digest}`));
  }
}

/** An ingest's meta.json; missing or unreadable (a crash while it was written) is none. */
async function readIngestMeta(path: string): Promise<IngestMeta | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as IngestMeta;
  } catch {
    return undefined;
  }
}

/** Replaced whole (temporary name, then rename): a crash leaves the old or the new one. */
async function writeIngestMeta(path: string, meta: IngestMeta): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(meta));
  await rename(tmp, path);
}
