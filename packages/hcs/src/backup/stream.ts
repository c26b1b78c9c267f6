/**
 * The Win32 backup stream, as BackupRead produces it and BackupWrite takes it (winbase.h
 * WIN32_STREAM_ID; go-winio's BackupStreamReader/Writer read and write the same): a file
 * is a run of streams, each a 20-byte little-endian header
 *   dwStreamId u32, dwStreamAttributes u32, Size u64, dwStreamNameSize u32
 * then the stream's name (UTF-16LE, dwStreamNameSize bytes: `:name:$DATA` for an alternate
 * data stream), then Size bytes of data. A sparse block's Size counts an 8-byte offset
 * that comes first. BackupRead gives the security descriptor (BACKUP_SECURITY_DATA, a
 * self-relative SD) before the data (BACKUP_DATA) and the alternate streams after it.
 * Streamed both ways: a stream's bytes are never gathered whole.
 */
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';

export const BACKUP_DATA = 1;
export const BACKUP_EA_DATA = 2;
export const BACKUP_SECURITY_DATA = 3;
export const BACKUP_ALTERNATE_DATA = 4;
export const BACKUP_LINK = 5;
export const BACKUP_PROPERTY_DATA = 6;
export const BACKUP_OBJECT_ID = 7;
export const BACKUP_REPARSE_DATA = 8;
export const BACKUP_SPARSE_BLOCK = 9;
export const BACKUP_TXFS_DATA = 10;
/** dwStreamAttributes: STREAM_SPARSE_ATTRIBUTE. */
export const STREAM_SPARSE_ATTRIBUTE = 8;
/** offsetof(WIN32_STREAM_ID, cStreamName). */
export const STREAM_ID_SIZE = 20;

export interface BackupStreamHeader {
  id: number;
  attributes?: number;
  /** The stream's data size (for a sparse block, without its 8-byte offset). */
  size: number;
  /** An alternate data stream's name, `:name:$DATA`; '' for the others. */
  name?: string;
  /** A sparse block's offset in the file. */
  offset?: number;
}

export interface BackupStreamPart {
  header: BackupStreamHeader;
  /** Exactly header.size bytes. */
  body?: Buffer | AsyncIterable<Buffer> | Iterable<Buffer>;
}

/** A stream's header as BackupWrite reads it. */
export function encodeBackupHeader(h: BackupStreamHeader): Buffer {
  const name = Buffer.from(h.name ?? '', 'utf16le');
  const sparse = h.id === BACKUP_SPARSE_BLOCK;
  const out = Buffer.alloc(STREAM_ID_SIZE + name.length + (sparse ? 8 : 0));
  out.writeUInt32LE(h.id, 0);
  out.writeUInt32LE(h.attributes ?? 0, 4);
  out.writeBigUInt64LE(BigInt(h.size + (sparse ? 8 : 0)), 8);
  out.writeUInt32LE(name.length, 16);
  name.copy(out, STREAM_ID_SIZE);
  if (sparse) out.writeBigInt64LE(BigInt(h.offset ?? 0), STREAM_ID_SIZE + name.length);
  return out;
}

/** The bytes of a backup stream made of `parts`, each body checked against its size. */
export async function* writeBackupStream(parts: AsyncIterable<BackupStreamPart> | Iterable<BackupStreamPart>): AsyncGenerator<Buffer> {
  for await (const p of parts) {
    yield encodeBackupHeader(p.header);
    let n = 0;
    const body = p.body === undefined ? [] : Buffer.isBuffer(p.body) ? [p.body] : p.body;
    for await (const chunk of body) {
      n += chunk.length;
      if (n > p.header.size) throw new Error(`backup stream ${p.header.id}${p.header.name ?? ''}: more than its ${p.header.size} bytes`);
      yield chunk;
    }
    if (n !== p.header.size) throw new Error(`backup stream ${p.header.id}${p.header.name ?? ''}: ${n} bytes instead of ${p.header.size}`);
  }
}

/** Bytes pulled from an async source on demand, exactly as many as asked. */
class ByteSource {
  private buf: Buffer = Buffer.alloc(0);
  private readonly it: AsyncIterator<Buffer>;
  constructor(src: AsyncIterable<Buffer | string>) {
    this.it = (async function* () {
      for await (const c of src) yield Buffer.isBuffer(c) ? c : Buffer.from(c);
    })();
  }

  /** More bytes into the buffer; false at the end of the source. */
  private async more(): Promise<boolean> {
    const r = await this.it.next();
    if (r.done) return false;
    this.buf = this.buf.length ? Buffer.concat([this.buf, r.value]) : r.value;
    return true;
  }

  /** Exactly n bytes; undefined when the source ended before the first one (only when allowed). */
  async exactly(n: number, endOk = false): Promise<Buffer | undefined> {
    while (this.buf.length < n) {
      if (!(await this.more())) {
        if (endOk && this.buf.length === 0) return undefined;
        throw new Error(`backup stream cut short: ${n - this.buf.length} bytes missing`);
      }
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** The next n bytes as they come (bounded by what the source hands at once). */
  async *take(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buf.length === 0 && !(await this.more())) throw new Error(`backup stream cut short: ${left} bytes missing`);
      const c = this.buf.subarray(0, Math.min(left, this.buf.length));
      this.buf = this.buf.subarray(c.length);
      left -= c.length;
      yield c;
    }
  }
}

export interface ParsedBackupStream {
  header: BackupStreamHeader;
  /** Its data; what is not read is skipped when the next stream is asked for. */
  body: Readable;
}

/** Safe sizes only: a stream beyond 2^53 bytes is not a file Berth reads. */
function sizeOf(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`backup stream ${what}: size ${v} is too large`);
  return Number(v);
}

/** The streams of a backup stream (BackupRead's output, or a layer's file on its way to BackupWrite), in order. */
export async function* readBackupStreams(src: AsyncIterable<Buffer | string>): AsyncGenerator<ParsedBackupStream> {
  const bytes = new ByteSource(src);
  for (;;) {
    const h = await bytes.exactly(STREAM_ID_SIZE, true);
    if (!h) return;
    const id = h.readUInt32LE(0);
    const attributes = h.readUInt32LE(4);
    let size = sizeOf(h.readBigUInt64LE(8), String(id));
    const nameSize = h.readUInt32LE(16);
    if (nameSize % 2 !== 0 || nameSize > 65536) throw new Error(`backup stream ${id}: bad name size ${nameSize}`);
    const name = nameSize ? (await bytes.exactly(nameSize))!.toString('utf16le') : '';
    const header: BackupStreamHeader = { id, attributes, size, name };
    if (id === BACKUP_SPARSE_BLOCK) {
      if (size < 8) throw new Error(`backup stream ${id}: a sparse block of ${size} bytes has no offset`);
      header.offset = sizeOf((await bytes.exactly(8))!.readBigInt64LE(0), 'offset');
      size -= 8;
      header.size = size;
    }
    const body = Readable.from(bytes.take(size), { objectMode: false });
    const done = finished(body);
    // a caller that stops at an error has seen it: no unhandled rejection
    done.catch(() => undefined);
    yield { header, body };
    // what the caller left of it is read past, through the same reader (never two at once)
    if (!body.readableEnded) body.resume();
    await done;
  }
}
