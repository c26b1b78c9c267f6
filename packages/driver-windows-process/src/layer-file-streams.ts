/**
 * One file of a layer folder as Windows layer tar entries, from its backup stream
 * (BackupRead, as go-winio's backuptar.WriteTarFileFromBackupStream reads it): the
 * security descriptor becomes the PAX record `MSWINDOWS.rawsd` (base64 of the
 * self-relative SD), the data the entry's body (sparse blocks filled out with zeros, as
 * archive/tar cannot write holes), and every alternate data stream `:s:$DATA` an entry of
 * its own named `<path>:s` right after the file, with the file's mode and times. EAs,
 * hard-link, property, object-id and TxF streams are left out, as backuptar leaves them.
 */
import { Readable } from 'node:stream';
import { BACKUP_ALTERNATE_DATA, BACKUP_DATA, BACKUP_SECURITY_DATA, BACKUP_SPARSE_BLOCK, STREAM_SPARSE_ATTRIBUTE, readBackupStreams, type BackupFiles, type ParsedBackupStream } from '@berth/hcs';

/** A tar entry as exportLayerTar adds it (tar-stream's header; body streamed). */
export type AddEntry = (header: { name: string; type: 'file' | 'directory'; size?: number; mode: number; mtime: Date; uid?: number; gid?: number; pax?: Record<string, string> }, body?: Readable) => Promise<void>;

/** Far above any real security descriptor (64 KiB ACLs at most): a bound on what is held in memory. */
const MAX_SD = 1 << 20;
const DATA_SUFFIX = ':$DATA';

async function collect(body: Readable, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > max) throw new Error(`${what}: more than ${max} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/** A sparse file's content from its sparse blocks (offset, data), holes as zeros, `size` bytes in all. */
async function* sparseContent(next: () => Promise<ParsedBackupStream | undefined>, size: number, name: string): AsyncGenerator<Buffer> {
  let at = 0;
  const zeros = function* (n: number) {
    for (let left = n; left > 0; left -= 65536) yield Buffer.alloc(Math.min(left, 65536));
  };
  for (;;) {
    const s = await next();
    if (!s || s.header.id !== BACKUP_SPARSE_BLOCK) throw new Error(`${name}: sparse data ends without its end block`);
    const offset = s.header.offset ?? 0;
    if (offset < at || offset > size) throw new Error(`${name}: sparse block at ${offset} (written up to ${at} of ${size})`);
    yield* zeros(offset - at);
    at = offset;
    // a block of no data marks the end (at the file's size)
    if (s.header.size === 0) break;
    for await (const c of s.body as AsyncIterable<Buffer>) {
      at += c.length;
      if (at > size) throw new Error(`${name}: sparse data past the file's ${size} bytes`);
      yield c;
    }
  }
  yield* zeros(size - at);
}

/**
 * The entries of one file or directory (`header` has its name, mode, times and PAX records
 * but no type or size): the entry itself, then its alternate data streams.
 */
export async function addWithStreams(add: AddEntry, backup: BackupFiles, abs: string, dir: boolean, fileSize: number, header: Omit<Parameters<AddEntry>[0], 'type'>): Promise<void> {
  const it = readBackupStreams(backup.read(abs))[Symbol.asyncIterator]();
  const next = async () => {
    const r = await it.next();
    return r.done ? undefined : r.value;
  };
  const pax: Record<string, string> = { ...header.pax };
  let written = false;
  const writeMain = async (body?: Readable) => {
    written = true;
    // an empty file may have no data stream (older BackupRead); a file with bytes has one
    if (!dir && !body && fileSize > 0) throw new Error(`${abs}: no data stream for its ${fileSize} bytes`);
    await add({ ...header, pax, ...(dir ? { type: 'directory' } : { type: 'file', size: fileSize }) }, body);
  };
  try {
    for (let s = await next(); s; s = await next()) {
      const { id, name = '', size, attributes = 0 } = s.header;
      if (id === BACKUP_SECURITY_DATA && !written) pax['MSWINDOWS.rawsd'] = (await collect(s.body, MAX_SD, `${abs}: security descriptor`)).toString('base64');
      else if (id === BACKUP_DATA && !written && !dir) {
        if (size > 0 || (attributes & STREAM_SPARSE_ATTRIBUTE) === 0) {
          if (size !== fileSize) throw new Error(`${abs}: the data stream has ${size} bytes, the file ${fileSize}`);
          await writeMain(s.body);
        } else await writeMain(Readable.from(fileSize ? sparseContent(next, fileSize, abs) : []));
      } else if (id === BACKUP_ALTERNATE_DATA) {
        if ((attributes & STREAM_SPARSE_ATTRIBUTE) !== 0) throw new Error(`${abs}: a sparse alternate data stream cannot go into a tar (backuptar refuses it too)`);
        if (!written) await writeMain();
        const stream = name.endsWith(DATA_SUFFIX) ? name.slice(0, -DATA_SUFFIX.length) : name;
        await add({ name: `${header.name}${stream}`, type: 'file', size, mode: header.mode, mtime: header.mtime, uid: 0, gid: 0 }, s.body);
      }
      // EA, link, property, object id, TxF, reparse (links are read by readlink): read past
    }
    if (!written) await writeMain();
  } finally {
    await it.return?.(undefined);
  }
}
