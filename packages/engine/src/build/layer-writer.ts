import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { posix } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { BlobExistsError, packableHeader, withPaxTimes } from '@berth/layer-store';

type HeaderArg = Partial<tar.Header> & { name: string };
import { MediaType, type Digest } from '@berth/image-format';
import type { ContentStore } from '@berth/layer-store';
import type { LayerRecord } from '../images/table.js';
import type { PlannedEntry } from './copy-plan.js';

/**
 * Streams a COPY/ADD plan as an uncompressed layer tar straight into the content store
 * (hashed while written; the digest is the diffID). Nothing is held in memory but one
 * entry's header at a time.
 */
export async function writeCopyLayer(content: ContentStore, entries: PlannedEntry[], clampMtime?: Date): Promise<LayerRecord> {
  // The writer first: a fill that fails (a hostile ADD archive) destroys `pack`, and its
  // 'error' must find the writer reading it, not an unheard emitter that ends the daemon.
  const w = await content.writer(`build-layer-${Date.now()}-${Math.random().toString(16).slice(2)}`);
  const pack = tar.pack();
  const fill = (async () => {
    for (const e of entries) {
      if (e.type === 'archive') await extractInto(pack, e, clampMtime);
      else await addEntry(pack, e);
    }
    pack.finalize();
  })();
  fill.catch((err: unknown) => pack.destroy(err as Error));
  let digest: Digest;
  try {
    await Promise.all([w.append(pack as unknown as Readable), fill]);
    const size = w.written;
    try {
      digest = await w.commit();
    } catch (err) {
      if (!(err instanceof BlobExistsError)) throw err;
      digest = err.digest;
    }
    return { digest, mediaType: MediaType.OciLayer, size, diffId: digest, uncompressedSize: size };
  } catch (err) {
    await w.abort().catch(() => undefined);
    throw err;
  }
}

function entry(pack: tar.Pack, given: HeaderArg, body?: Readable): Promise<void> {
  const header = packableHeader(given);
  return new Promise((resolve, reject) => {
    const done = (err?: Error | null): void => (err ? reject(err) : resolve());
    if (!body) {
      pack.entry(header, Buffer.alloc(0), done);
      return;
    }
    const sink = pack.entry(header, done);
    // `done` gets the sink's failure; without a listener its 'error' event (a body cut
    // short by a hostile archive) would be an uncaught exception that ends the daemon.
    sink.on('error', () => undefined);
    body.on('error', (err: Error) => {
      sink.destroy(err);
      reject(err);
    });
    body.pipe(sink as unknown as NodeJS.WritableStream);
  });
}

async function addEntry(pack: tar.Pack, e: PlannedEntry): Promise<void> {
  const base = { mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, uname: '', gname: '' };
  if (e.type === 'directory') return entry(pack, { ...base, name: e.name + '/', type: 'directory' });
  if (e.type === 'symlink') return entry(pack, { ...base, name: e.name, type: 'symlink', linkname: e.linkname ?? '' });
  return entry(pack, { ...base, name: e.name, type: 'file', size: e.size }, createReadStream(e.hostPath!));
}

/**
 * ADD of a local archive: its entries (ownership as stored) re-rooted under the destination,
 * their times no later than `clampMtime` (SOURCE_DATE_EPOCH) when given.
 */
async function extractInto(pack: tar.Pack, e: PlannedEntry, clampMtime: Date | undefined): Promise<void> {
  const raw = await decompress(e.hostPath!);
  const ex = tar.extract();
  const done = (async () => {
    for await (const item of ex) {
      const h = item.header;
      const rel = posix.normalize('/' + h.name).slice(1).replace(/\/+$/, '');
      if (rel === '') {
        item.resume();
        continue;
      }
      const name = e.name === '' ? rel : `${e.name}/${rel}`;
      const header: HeaderArg = { ...withPaxTimes(h), name: h.type === 'directory' ? name + '/' : name };
      delete header.pax;
      if (clampMtime && (!header.mtime || header.mtime.getTime() > clampMtime.getTime())) header.mtime = clampMtime;
      if (h.type === 'link' && h.linkname) {
        const target = posix.normalize('/' + h.linkname).slice(1);
        header.linkname = e.name === '' ? target : `${e.name}/${target}`;
      }
      if (h.type === 'file' || h.type === 'contiguous-file') await entry(pack, header, item as unknown as Readable);
      else {
        item.resume();
        await entry(pack, header);
      }
    }
  })();
  await Promise.all([pipeline(raw, ex), done]);
}

async function decompress(path: string): Promise<Readable> {
  const fh = await open(path, 'r');
  const magic = Buffer.alloc(6);
  await fh.read(magic, 0, 6, 0);
  await fh.close();
  const file = createReadStream(path);
  if (magic[0] === 0x1f && magic[1] === 0x8b) return file.pipe(createGunzip());
  const tool = magic.subarray(0, 3).toString('latin1') === 'BZh' ? 'bzip2' : magic[0] === 0xfd ? 'xz' : undefined;
  if (!tool) return file;
  const child = spawn(tool, ['-dc'], { stdio: ['pipe', 'pipe', 'ignore'] });
  file.pipe(child.stdin);
  const out = new PassThrough();
  child.stdout.pipe(out);
  child.once('error', (err) => out.destroy(err));
  return out;
}
