/**
 * A layer tar read as a stream of entries judged by the layer rules, for consumers that
 * write somewhere other than the host file system (the LCOW ext4 writer): the same caps,
 * raw PAX xattrs, decompression and name rules as the guarded extractor, without a root.
 */
import type { Readable } from 'node:stream';
import type { Header } from 'tar-stream';
import { BerthError, InvalidArgumentError, type Digest, type LayerCompression } from '@berth/image-format';
import type { TarLimits } from './tar-guard.js';
import { DEFAULT_TAR_LIMITS, walkTar } from './tar-entries.js';

/** An archive entry was refused: it would leave the root (or the destination), or breaks a rule. */
export class UnsafeEntryError extends InvalidArgumentError {}

export { DEFAULT_TAR_LIMITS };
export const WHITEOUT = '.wh.';
export const OPAQUE = '.wh..wh..opq';
const ALLOWED_XATTR = /^(user\.|security\.capability$|system\.posix_acl_(access|default)$|trusted\.(?!overlay\.))/;

export function refuseEntry(name: string, why: string): UnsafeEntryError {
  return new UnsafeEntryError(`refused layer entry "${name}": ${why}`);
}

/** The layer rules for a name: no NUL, not absolute, no `..` component. */
export function checkLayerName(name: string): void {
  if (name.includes('\0')) throw refuseEntry(name, 'NUL byte in path');
  if (name.startsWith('/')) throw refuseEntry(name, 'absolute path');
  if (name.split('/').includes('..')) throw refuseEntry(name, 'path escapes the root (..)');
}

/** The in-root path (`/a/b`, `/` for the root) a checked layer name stands for. */
export function layerPath(name: string): string {
  checkLayerName(name);
  return '/' + name.split('/').filter((c) => c !== '' && c !== '.').join('/');
}

/** A hard link's target under the layer rules: an entry of the root, never the root itself. */
export function layerHardlinkTarget(name: string, linkname: string): string {
  if (linkname.startsWith('/')) throw refuseEntry(name, 'absolute path');
  if (linkname.split('/').includes('..')) throw refuseEntry(name, 'path escapes the root (..)');
  const target = layerPath(linkname);
  if (target === '/') throw refuseEntry(name, 'hardlink to the root');
  return target;
}

/** What a `.wh.<name>` whiteout hides (its base name), refusing names that are no whiteout's. */
export function whiteoutTarget(name: string, base: string): string {
  const target = base.slice(WHITEOUT.length);
  if (target === '' || target === '.' || target === '..' || target.startsWith(WHITEOUT)) throw refuseEntry(name, 'invalid whiteout');
  return target;
}

/** The xattrs a layer may carry (overlay's own trusted.overlay.* are never taken from a tar). */
export function layerXattrAllowed(name: string): boolean {
  return ALLOWED_XATTR.test(name);
}

export interface LayerEntry {
  header: Header;
  /** The in-root path (`/` is the root directory). */
  path: string;
  /** A hard link's in-root target. */
  linkPath?: string;
  /** Allowed PAX xattrs, values as raw bytes. */
  xattrs: Map<string, Buffer>;
  /** A regular file's data: read it to the end (or not at all: it is drained). */
  data: Readable;
}

export interface ReadLayerOptions {
  compression: LayerCompression;
  limits?: Partial<TarLimits>;
}

export interface ReadLayerResult {
  digest: Digest;
  size: number;
  entries: number;
  contentSize: number;
}

const TYPES = new Set(['file', 'contiguous-file', 'directory', 'symlink', 'link', 'character-device', 'block-device', 'fifo']);

/**
 * Reads a layer tar, calling `onEntry` for each entry in order once the layer rules
 * passed it (names, hard link targets, symlinks with a target, known types, whiteout
 * names). Streams: one entry at a time, its data as the parser gives it. Returns the
 * uncompressed stream's digest (the diffID) and sizes.
 */
export async function readLayerEntries(input: Readable, opts: ReadLayerOptions, onEntry: (e: LayerEntry) => Promise<void>): Promise<ReadLayerResult> {
  try {
    const r = await walkTar(input, { ...opts, digest: true, ownError: (e) => e instanceof BerthError }, async (h, data, raw) => {
      const path = layerPath(h.name);
      const type = h.type ?? 'file';
      if (!TYPES.has(type)) throw refuseEntry(h.name, `unsupported entry type ${String(h.type)}`);
      if (type === 'symlink' && !h.linkname) throw refuseEntry(h.name, 'symlink without a target');
      const base = path.slice(path.lastIndexOf('/') + 1);
      if (base.startsWith(WHITEOUT) && base !== OPAQUE) whiteoutTarget(h.name, base);
      const xattrs = new Map([...(raw ?? [])].filter(([k]) => layerXattrAllowed(k)));
      await onEntry({ header: h, path, xattrs, data, ...(type === 'link' ? { linkPath: layerHardlinkTarget(h.name, h.linkname ?? '') } : {}) });
    });
    return { digest: r.digest as Digest, size: r.size, entries: r.entries, contentSize: r.contentSize };
  } catch (err) {
    throw wrap(err);
  }
}

function wrap(err: unknown): Error {
  if (err instanceof BerthError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string' && e.code.startsWith('Z_')) return new InvalidArgumentError(`layer is not valid compressed data: ${e.message}`, { cause: err });
  if (e && !e.code && e instanceof Error) return new InvalidArgumentError(`layer is not a valid tar archive: ${e.message}`, { cause: err });
  return err instanceof Error ? err : new BerthError('Internal', String(err));
}
