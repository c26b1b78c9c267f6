/**
 * The one way Berth reads a tar from outside: decompressed, capped and hashed by the
 * TarGuard, parsed one entry at a time (the guarded extractor and the layer entry reader
 * both walk archives through it). Streams: an entry's data is read by the handler or drained.
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar, { type Header } from 'tar-stream';
import type { Digest, LayerCompression } from '@berth/image-format';
import { DecoderStoppedError, sniffingDecompressor } from './decompress.js';
import { TarGuard, type TarLimits } from './tar-guard.js';

export const DEFAULT_TAR_LIMITS: TarLimits = { maxEntries: 2_000_000, maxBytes: 256 * 2 ** 30, maxPaxHeader: 1 << 20 };

export interface TarWalkOptions {
  compression: LayerCompression;
  limits?: Partial<TarLimits>;
  /** Hash the uncompressed stream (a layer's diffID). */
  digest: boolean;
  /**
   * Whether an error the entry handler threw is the failure's cause as it is; otherwise a
   * stream's own failure (a cut or corrupt stream) is thrown, which explains it better.
   */
  ownError: (err: unknown) => boolean;
}

export interface TarWalkResult {
  digest?: Digest;
  /** Uncompressed size of the tar. */
  size: number;
  entries: number;
  /** Docker's layer size: file contents plus symlink targets (see entrySize). */
  contentSize: number;
}

/** Calls `onEntry` for each entry in archive order with its raw PAX xattrs; its data is drained after. */
export async function walkTar(
  input: Readable,
  opts: TarWalkOptions,
  onEntry: (header: Header, data: Readable, xattrs: Map<string, Buffer> | undefined) => Promise<void>,
): Promise<TarWalkResult> {
  const guard = new TarGuard({ ...DEFAULT_TAR_LIMITS, ...opts.limits }, opts.digest);
  const dec = sniffingDecompressor(opts.compression);
  const extract = tar.extract();
  let feedError: unknown;
  let contentSize = 0;
  const feed = pipeline(input, dec.stream, guard, extract).catch((err: unknown) => {
    feedError ??= err;
  });
  let entryError: unknown;
  try {
    for await (const entry of extract) {
      const xattrs = guard.nextEntryXattrs();
      const data = entry as unknown as Readable;
      contentSize += entrySize(entry.header);
      try {
        await onEntry(entry.header, data, xattrs);
      } catch (err) {
        entryError = err;
        throw err;
      } finally {
        data.resume();
      }
    }
    await feed;
    await dec.done;
  } catch (err) {
    input.destroy();
    dec.stream.destroy();
    extract.destroy();
    await feed;
    // A child decoder's own failure (a cut or corrupt stream) explains the tar parser's
    // "unexpected end" better than the parser does.
    const decodeError = await dec.done.then(
      () => undefined,
      (e: unknown) => (e instanceof DecoderStoppedError ? undefined : e),
    );
    throw opts.ownError(entryError) ? entryError : (decodeError ?? feedError ?? entryError ?? err);
  }
  if (feedError) throw feedError;
  return { ...(opts.digest ? { digest: guard.digest() } : {}), size: guard.bytes, entries: guard.entries, contentSize };
}

/**
 * An entry's share of Docker's layer size, which overlay2 measures as the lstat sizes of the
 * non-directory entries of the layer's tree: a file's length, a symlink's target length;
 * a hard link adds nothing (one inode), nor do directories and whiteout devices.
 */
function entrySize(h: Header): number {
  if (h.type === 'symlink') return Buffer.byteLength(h.linkname ?? '');
  if (h.type === 'file' || h.type === 'contiguous-file') return h.size ?? 0;
  return 0;
}
