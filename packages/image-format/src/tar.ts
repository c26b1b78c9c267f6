// Thin helpers over tar-stream: write entries with back-pressure, read entries safely.
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, symlink } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract as tarExtract, pack as tarPack, type Pack } from 'tar-stream';
import { Digester, type Digest } from './digest.js';
import { BerthError, InvalidArgumentError } from './errors.js';

const EPOCH = new Date(0);

/** Writes tar entries one at a time; `stream` is the tar, to be piped by the caller. */
export class TarWriter {
  readonly stream: Pack = tarPack();

  private entry(header: Parameters<Pack['entry']>[0], body?: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (body) this.stream.entry(header, body, cb);
      else this.stream.entry(header, cb);
    });
  }

  addDirectory(name: string): Promise<void> {
    return this.entry({ name, type: 'directory', mode: 0o755, mtime: EPOCH, uid: 0, gid: 0 });
  }

  addBuffer(name: string, bytes: Uint8Array): Promise<void> {
    return this.entry({ name, type: 'file', mode: 0o644, size: bytes.length, mtime: EPOCH, uid: 0, gid: 0 }, bytes);
  }

  /** Streams `source` (exactly `size` bytes) as one entry, honouring back-pressure. */
  async addStream(name: string, size: number, source: AsyncIterable<Uint8Array>): Promise<void> {
    let sink: ReturnType<Pack['entry']> | undefined;
    const done = new Promise<void>((resolve, reject) => {
      sink = this.stream.entry({ name, type: 'file', mode: 0o644, size, mtime: EPOCH, uid: 0, gid: 0 }, (err) =>
        err ? reject(err) : resolve(),
      );
    });
    // The entry can fail while we wait for a drain (the tar was destroyed): its failure
    // arrives through `done`, so observe it now and keep the sink's 'error' from crashing us.
    done.catch(() => undefined);
    // a tar already destroyed refuses the entry at once (the executor threw): say so
    if (!sink) return done;
    sink.on('error', () => undefined);
    try {
      for await (const chunk of source) {
        if (!sink.write(chunk)) await Promise.race([once(sink as unknown as NodeJS.EventEmitter, 'drain'), done]);
      }
      sink.end(undefined);
    } catch (err) {
      sink.destroy(err as Error);
      throw err;
    }
    await done;
  }

  finalize(): void {
    this.stream.finalize();
  }

  /** Fails the tar so its reader sees `err`, even if nobody is reading any more. */
  abort(err: Error): void {
    // streamx emits 'error' on destroy: without a listener a gone reader would crash us.
    this.stream.on('error', () => undefined);
    this.stream.destroy(err);
  }
}

/** Normalises an archive member name; refuses absolute paths and `..`. */
export function safeEntryName(name: string): string {
  const n = posix.normalize(name.replace(/^\.\/+/, '')).replace(/\/+$/, '');
  if (n === '' || n === '.') return '';
  if (n.startsWith('/') || n === '..' || n.startsWith('../') || n.includes('\0')) {
    throw new InvalidArgumentError(`archive entry "${name}": path escapes the archive`);
  }
  return n;
}

export interface ExtractedEntry {
  type: 'file' | 'symlink';
  size: number;
  /** sha256 of the file's bytes (files only). */
  digest?: Digest;
  linkname?: string;
}

/**
 * Extracts regular files, directories and symlinks of a tar stream under `dir`,
 * hashing each file while it is written; returns what was extracted by name.
 * Names are normalised and may not leave `dir`; `accept` can skip entries.
 */
export async function extractTar(
  input: Readable,
  dir: string,
  accept: (name: string) => boolean = () => true,
): Promise<Map<string, ExtractedEntry>> {
  const out = new Map<string, ExtractedEntry>();
  const extract = tarExtract();
  input.on('error', (err) => extract.destroy(err));
  input.pipe(extract as unknown as NodeJS.WritableStream);
  try {
    await extractEntries(extract, dir, accept, out);
  } catch (err) {
    // tar-stream's parse errors ("Unexpected end of data") become InvalidArgument;
    // file system errors (with an errno code) and Berth's own pass through.
    if (err instanceof BerthError || (err as NodeJS.ErrnoException).code !== undefined) throw err;
    throw new InvalidArgumentError(`malformed tar: ${(err as Error).message}`, { cause: err });
  } finally {
    // On an early error stop reading the input instead of piping into a dead extractor.
    input.unpipe(extract as unknown as NodeJS.WritableStream);
    if (!input.readableEnded) input.destroy();
  }
  return out;
}

async function extractEntries(
  extract: ReturnType<typeof tarExtract>,
  dir: string,
  accept: (name: string) => boolean,
  out: Map<string, ExtractedEntry>,
): Promise<void> {
  for await (const entry of extract) {
    const h = entry.header;
    const name = safeEntryName(h.name);
    const target = join(dir, name);
    if (name === '' || !accept(name) || (h.type !== 'file' && h.type !== 'directory' && h.type !== 'symlink')) {
      entry.resume();
      continue;
    }
    if (h.type === 'directory') {
      await mkdir(target, { recursive: true });
      entry.resume();
      continue;
    }
    await mkdir(dirname(target), { recursive: true });
    if (h.type === 'symlink') {
      // Only links inside the archive are kept (legacy docker save links duplicate layers).
      const resolved = posix.normalize(posix.join(posix.dirname(name), h.linkname));
      if (resolved.startsWith('../') || resolved.startsWith('/')) {
        throw new InvalidArgumentError(`archive entry "${h.name}": symlink points outside the archive`);
      }
      await rm(target, { force: true });
      await symlink(h.linkname, target);
      out.set(name, { type: 'symlink', size: 0, linkname: resolved });
      entry.resume();
      continue;
    }
    const digester = new Digester();
    const tmp = `${target}.partial`;
    await pipeline(entry as unknown as AsyncIterable<Buffer>, digester, createWriteStream(tmp));
    await rename(tmp, target);
    out.set(name, { type: 'file', size: digester.size, digest: digester.digest() });
  }
}
