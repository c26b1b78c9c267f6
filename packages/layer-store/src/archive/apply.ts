import type { Readable } from 'node:stream';
import { BerthError, DigestMismatchError, InvalidArgumentError, type Digest, type LayerCompression } from '@berth/image-format';
import { extractTar, UnsafeEntryError, type ExtractPolicy } from './extract.js';
import type { TarLimits } from './tar-guard.js';
import type { ApplyTarget } from '../snapshot/snapshotter.js';

/** A layer entry was refused: it would escape the root, or breaks a limit or a rule (the extractor's refusal). */
export const UnsafeLayerError = UnsafeEntryError;
export type UnsafeLayerError = UnsafeEntryError;

export interface ApplyOptions {
  compression: LayerCompression;
  /** 'overlay': whiteouts become overlayfs whiteouts in an empty upper dir;
   * 'delete': whiteouts delete from the tree (native snapshotter);
   * 'keep': `.wh.` entries stay ordinary files (a Windows layer's importer reads them). */
  whiteouts: 'overlay' | 'delete' | 'keep';
  /** The diffID the uncompressed stream must hash to; checked at the end. */
  expectedDiffId?: Digest;
  /** Allows char/block device entries (never needed for ordinary images). */
  privileged?: boolean;
  /** Applies entry owners (default: when running as root). */
  sameOwner?: boolean;
  limits?: Partial<TarLimits>;
  /** Each entry's header once it is applied (see ExtractPolicy.onEntry). */
  onEntry?: ExtractPolicy['onEntry'];
}

export interface ApplyResult {
  diffId: Digest;
  /** Uncompressed size of the layer tar. */
  size: number;
  entries: number;
  /** What Docker reports as the layer's size: file contents plus symlink targets. */
  contentSize: number;
}

/**
 * Applies a layer stream onto `root` through the guarded extractor under the layer rules
 * (see extractTar): never follows a symlink inside the root, never writes outside it. On
 * error the tree is left half-applied: callers apply into a fresh snapshot and remove it.
 */
export async function applyLayer(input: Readable, root: string, opts: ApplyOptions): Promise<ApplyResult> {
  let r;
  try {
    r = await extractTar(input, root, {
      rules: 'layer',
      compression: opts.compression,
      ...(opts.whiteouts === 'keep' ? {} : { whiteouts: opts.whiteouts }),
      owner: (opts.sameOwner ?? process.geteuid?.() === 0) ? 'tar' : 'none',
      devices: opts.privileged ?? false,
      xattrs: true,
      digest: true,
      ...(opts.limits ? { limits: opts.limits } : {}),
      ...(opts.onEntry ? { onEntry: opts.onEntry } : {}),
    });
  } catch (err) {
    throw wrap(err);
  }
  const diffId = r.digest!;
  if (opts.expectedDiffId && opts.expectedDiffId !== diffId) {
    throw new DigestMismatchError(opts.expectedDiffId, diffId, 'layer diffID');
  }
  return { diffId, size: r.size, entries: r.entries, contentSize: r.contentSize };
}

/** Applies a layer stream into a snapshot's apply target: its own `apply`, or the extractor into its `dir`. */
export function applyToTarget(input: Readable, target: ApplyTarget, opts: Omit<ApplyOptions, 'whiteouts'>): Promise<ApplyResult> {
  const o = { ...opts, whiteouts: target.whiteouts };
  return target.apply ? target.apply(input, o) : applyLayer(input, target.dir, o);
}

function wrap(err: unknown): Error {
  if (err instanceof BerthError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e && e.code === 'Z_BUF_ERROR') return new InvalidArgumentError(`layer is truncated: ${e.message}`, { cause: err });
  if (e && typeof e.code === 'string' && e.code.startsWith('Z_')) return new InvalidArgumentError(`layer is not valid compressed data: ${e.message}`, { cause: err });
  if (e && !e.code && e instanceof Error) return new InvalidArgumentError(`layer is not a valid tar archive: ${e.message}`, { cause: err });
  return new BerthError('Internal', `applying the layer failed: ${e instanceof Error ? e.message : String(err)}`, { cause: err });
}
