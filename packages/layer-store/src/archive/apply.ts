import { spawnSync } from 'node:child_process';
import {
  closeSync,
  constants as C,
  fchmodSync,
  fchownSync,
  futimesSync,
  linkSync,
  lstatSync,
  lchownSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  rmSync,
  chmodSync,
  symlinkSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import tar, { type Header as Headers } from 'tar-stream';
import { BerthError, DigestMismatchError, InvalidArgumentError, type Digest, type LayerCompression } from '@berth/image-format';
import { DecoderStoppedError, decompressor } from './decompress.js';
import { TarGuard, type TarLimits } from './tar-guard.js';
import { setXattr } from './xattr.js';

/** A layer entry was refused: it would escape the root, or breaks a limit or a rule. */
export class UnsafeLayerError extends InvalidArgumentError {}

export interface ApplyOptions {
  compression: LayerCompression;
  /** 'overlay': whiteouts become overlayfs whiteouts in an empty upper dir;
   * 'delete': whiteouts delete from the tree (native snapshotter). */
  whiteouts: 'overlay' | 'delete';
  /** The diffID the uncompressed stream must hash to; checked at the end. */
  expectedDiffId?: Digest;
  /** Allows char/block device entries (never needed for ordinary images). */
  privileged?: boolean;
  /** Applies entry owners (default: when running as root). */
  sameOwner?: boolean;
  limits?: Partial<TarLimits>;
}

export interface ApplyResult {
  diffId: Digest;
  /** Uncompressed size of the layer tar. */
  size: number;
  entries: number;
  /** What Docker reports as the layer's size: file contents plus symlink targets (see entrySize). */
  contentSize: number;
}

const DEFAULT_LIMITS: TarLimits = { maxEntries: 2_000_000, maxBytes: 256 * 2 ** 30, maxPaxHeader: 1 << 20 };
const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';
const ALLOWED_XATTR = /^(user\.|security\.capability$|system\.posix_acl_(access|default)$|trusted\.(?!overlay\.))/;

/**
 * An entry's share of Docker's layer size, which overlay2 measures as the lstat sizes of the
 * non-directory entries of the layer's tree: a file's length, a symlink's target length;
 * a hard link adds nothing (one inode), nor do directories and whiteout devices.
 */
function entrySize(h: Headers): number {
  if (h.type === 'symlink') return Buffer.byteLength(h.linkname ?? '');
  if (h.type === 'file' || h.type === 'contiguous-file') return h.size ?? 0;
  return 0;
}

/**
 * Applies a layer stream onto `root`. Never follows a symlink inside the root, never
 * writes outside it, never executes anything from the image. On error the tree is
 * left half-applied: callers apply into a fresh snapshot and remove it on failure.
 */
export async function applyLayer(input: Readable, root: string, opts: ApplyOptions): Promise<ApplyResult> {
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const guard = new TarGuard(limits);
  const dec = decompressor(opts.compression);
  const extract = tar.extract();
  const applier = new Applier(root, opts);
  let feedError: unknown;
  let contentSize = 0;
  const feed = pipeline(input, dec.stream, guard, extract).catch((err) => {
    feedError ??= err;
  });
  try {
    for await (const entry of extract) {
      const xattrs = guard.nextEntryXattrs();
      contentSize += entrySize(entry.header);
      await applier.entry(entry.header, entry as unknown as Readable, xattrs);
    }
    await feed;
    await dec.done;
  } catch (err) {
    applier.cleanup();
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
    // The entry handler's refusal is the cause; a stream error only when it has none.
    throw wrap(err instanceof BerthError ? err : (decodeError ?? feedError ?? err));
  }
  if (feedError) {
    applier.cleanup();
    throw wrap(feedError);
  }
  applier.finish();
  const diffId = guard.digest();
  if (opts.expectedDiffId && opts.expectedDiffId !== diffId) {
    throw new DigestMismatchError(opts.expectedDiffId, diffId, 'layer diffID');
  }
  return { diffId, size: guard.bytes, entries: guard.entries, contentSize };
}

function wrap(err: unknown): Error {
  if (err instanceof BerthError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e && e.code === 'Z_BUF_ERROR') return new InvalidArgumentError(`layer is truncated: ${e.message}`, { cause: err });
  if (e && typeof e.code === 'string' && e.code.startsWith('Z_')) return new InvalidArgumentError(`layer is not valid compressed data: ${e.message}`, { cause: err });
  if (e && !e.code && e instanceof Error) return new InvalidArgumentError(`layer is not a valid tar archive: ${e.message}`, { cause: err });
  return new BerthError('Internal', `applying the layer failed: ${e instanceof Error ? e.message : String(err)}`, { cause: err });
}

function refuse(name: string, why: string): UnsafeLayerError {
  return new UnsafeLayerError(`refused layer entry "${name}": ${why}`);
}

/** Splits an archive path into clean components, refusing absolute paths and `..`. */
function components(name: string): string[] {
  if (name.includes('\0')) throw refuse(name, 'NUL byte in path');
  if (name.startsWith('/')) throw refuse(name, 'absolute path');
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw refuse(name, 'path escapes the root (..)');
  return parts;
}

const isRoot = process.getuid?.() === 0;

class Applier {
  /** Relative paths known to be real directories (not symlinks) inside the root. */
  private readonly dirs = new Set<string>(['']);
  /** Paths this layer created, for opaque directories applied as deletions. */
  private readonly created = new Set<string>();
  private readonly dirTimes: [string, Date][] = [];
  private readonly chown: boolean;
  private template: string | undefined;

  constructor(private readonly root: string, private readonly opts: ApplyOptions) {
    this.chown = opts.sameOwner ?? isRoot;
  }

  private abs(rel: string): string {
    return rel === '' ? this.root : join(this.root, rel);
  }

  /**
   * Makes sure every component of `parts` is a real directory inside the root, creating
   * missing ones; a symlink or a non-directory on the way is refused, never followed.
   */
  private ensureDir(parts: string[], name: string, create = true): boolean {
    let rel = '';
    for (const p of parts) {
      const next = rel === '' ? p : rel + '/' + p;
      if (!this.dirs.has(next)) {
        let st: Stats | undefined;
        try {
          st = lstatSync(this.abs(next));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
        if (!st) {
          if (!create) return false;
          mkdirSync(this.abs(next), 0o755);
          this.created.add(next);
        } else if (st.isSymbolicLink()) {
          throw refuse(name, `parent "${next}" is a symlink`);
        } else if (!st.isDirectory()) {
          throw refuse(name, `parent "${next}" is not a directory`);
        }
        this.dirs.add(next);
      }
      rel = next;
    }
    return true;
  }

  /** Removes whatever is at `rel` (a whole directory tree included), forgetting it. */
  private removePath(rel: string, st?: Stats): void {
    const abs = this.abs(rel);
    if (st?.isDirectory() ?? true) rmSync(abs, { recursive: true, force: true });
    else unlinkSync(abs);
    this.forget(rel);
  }

  private forget(rel: string): void {
    this.dirs.delete(rel);
    const prefix = rel + '/';
    for (const d of this.dirs) if (d.startsWith(prefix)) this.dirs.delete(d);
  }

  private lstatOrUndefined(abs: string): Stats | undefined {
    try {
      return lstatSync(abs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async entry(h: Headers, data: Readable, xattrs: Map<string, Buffer> | undefined): Promise<void> {
    const parts = components(h.name);
    const base = parts[parts.length - 1];
    if (base === undefined) {
      // The root itself ("./"): only its metadata.
      data.resume();
      if (h.type === 'directory') this.dirMeta('', h, xattrs);
      return;
    }
    const parentParts = parts.slice(0, -1);
    const parentRel = parentParts.join('/');
    const rel = parts.join('/');

    if (base.startsWith(WHITEOUT)) {
      data.resume();
      return this.whiteout(parentParts, parentRel, base, h.name);
    }
    this.ensureDir(parentParts, h.name);
    const abs = this.abs(rel);
    this.created.add(rel);

    switch (h.type) {
      case 'file':
      case 'contiguous-file':
        await this.file(rel, abs, h, data, xattrs);
        return;
      case 'directory': {
        data.resume();
        try {
          mkdirSync(abs, 0o755);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
          const st = lstatSync(abs);
          if (!st.isDirectory()) {
            this.removePath(rel, st);
            mkdirSync(abs, 0o755);
          }
        }
        this.dirs.add(rel);
        this.dirMeta(rel, h, xattrs);
        return;
      }
      case 'symlink': {
        data.resume();
        if (!h.linkname) throw refuse(h.name, 'symlink without a target');
        this.replace(rel, abs);
        symlinkSync(h.linkname, abs);
        if (this.chown) lchownSync(abs, h.uid ?? 0, h.gid ?? 0);
        // Linux refuses user.* xattrs on symlinks; an image carrying one loses nothing.
        this.xattrs(abs, xattrs && new Map([...xattrs].filter(([k]) => !k.startsWith('user.'))), h.name);
        if (h.mtime) lutimesSync(abs, h.mtime, h.mtime);
        return;
      }
      case 'link': {
        data.resume();
        const target = components(h.linkname ?? '');
        if (target.length === 0) throw refuse(h.name, 'hardlink to the root');
        if (!this.ensureDir(target.slice(0, -1), h.name, false)) throw refuse(h.name, `hardlink target "${h.linkname}" does not exist`);
        const targetAbs = this.abs(target.join('/'));
        const tst = this.lstatOrUndefined(targetAbs);
        if (!tst) throw refuse(h.name, `hardlink target "${h.linkname}" does not exist`);
        if (tst.isDirectory()) throw refuse(h.name, 'hardlink to a directory');
        if (target.join('/') === rel) return;
        this.replace(rel, abs);
        // link(2) does not follow a symlink target: the link names the symlink itself.
        linkSync(targetAbs, abs);
        return;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        data.resume();
        if (h.type !== 'fifo' && !this.opts.privileged) throw refuse(h.name, 'device nodes need a privileged apply');
        this.replace(rel, abs);
        const mode = ((h.mode ?? 0o644) & 0o7777).toString(8);
        const argv = h.type === 'fifo' ? [abs, 'p'] : [abs, h.type === 'block-device' ? 'b' : 'c', String(h.devmajor ?? 0), String(h.devminor ?? 0)];
        const r = spawnSync('mknod', ['-m', mode, '--', ...argv], { encoding: 'utf8' });
        if (r.error || r.status !== 0) throw new BerthError('Internal', `mknod ${h.name} failed: ${r.error?.message ?? r.stderr.trim()}`);
        if (this.chown) lchownSync(abs, h.uid ?? 0, h.gid ?? 0);
        // The node was just created by us at a checked path: chmod cannot meet a symlink.
        chmodSync(abs, (h.mode ?? 0o644) & 0o7777);
        this.xattrs(abs, xattrs, h.name);
        if (h.mtime) lutimesSync(abs, h.mtime, h.mtime);
        return;
      }
      default:
        data.resume();
        throw refuse(h.name, `unsupported entry type ${String(h.type)}`);
    }
  }

  /** Clears the way for a new non-directory entry at `rel`. */
  private replace(rel: string, abs: string): void {
    const st = this.lstatOrUndefined(abs);
    if (st) this.removePath(rel, st);
  }

  private async file(rel: string, abs: string, h: Headers, data: Readable, xattrs: Map<string, Buffer> | undefined): Promise<void> {
    const flags = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;
    let fd: number;
    try {
      fd = openSync(abs, flags, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      this.replace(rel, abs);
      fd = openSync(abs, flags, 0o600);
    }
    try {
      for await (const chunk of data) {
        const buf = chunk as Buffer;
        let off = 0;
        while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      }
      this.fdMeta(fd, h);
    } finally {
      closeSync(fd);
    }
    this.xattrs(abs, xattrs, h.name);
  }

  /** Owner before mode: chown clears setuid/setgid bits. */
  private fdMeta(fd: number, h: Headers): void {
    if (this.chown) fchownSync(fd, h.uid ?? 0, h.gid ?? 0);
    fchmodSync(fd, (h.mode ?? 0o644) & 0o7777);
    if (h.mtime) futimesSync(fd, h.mtime, h.mtime);
  }

  private dirMeta(rel: string, h: Headers, xattrs: Map<string, Buffer> | undefined): void {
    const fd = openSync(this.abs(rel), C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW);
    try {
      if (this.chown) fchownSync(fd, h.uid ?? 0, h.gid ?? 0);
      fchmodSync(fd, (h.mode ?? 0o755) & 0o7777);
    } finally {
      closeSync(fd);
    }
    this.xattrs(this.abs(rel), xattrs, h.name);
    // Creating children changes a directory's mtime: set it once they are all in.
    if (h.mtime) this.dirTimes.push([rel, h.mtime]);
  }

  private xattrs(abs: string, xattrs: Map<string, Buffer> | undefined, name: string): void {
    if (!xattrs) return;
    for (const [k, v] of xattrs) {
      if (!ALLOWED_XATTR.test(k)) continue;
      try {
        setXattr(abs, k, v);
      } catch (err) {
        throw refuse(name, `xattr ${k}: ${(err as Error).message}`);
      }
    }
  }

  private whiteout(parentParts: string[], parentRel: string, base: string, name: string): void {
    const overlay = this.opts.whiteouts === 'overlay';
    if (!this.ensureDir(parentParts, name, overlay)) return;
    if (base === OPAQUE) {
      if (overlay) setXattr(this.abs(parentRel), 'trusted.overlay.opaque', Buffer.from('y'));
      else {
        for (const child of readdirSync(this.abs(parentRel))) {
          const rel = parentRel === '' ? child : parentRel + '/' + child;
          if (!this.created.has(rel)) this.removePath(rel);
        }
      }
      return;
    }
    const target = base.slice(WHITEOUT.length);
    if (target === '' || target === '.' || target === '..' || target.startsWith(WHITEOUT)) throw refuse(name, 'invalid whiteout');
    const rel = parentRel === '' ? target : parentRel + '/' + target;
    const abs = this.abs(rel);
    this.replace(rel, abs);
    if (overlay) linkSync(this.whiteoutTemplate(name), abs);
  }

  /**
   * Node cannot mknod: one `mknod` makes a 0/0 character device and every whiteout is a
   * hardlink of it (overlayfs itself shares whiteouts this way). It sits in the root
   * under a name no archive path can take and is removed when the apply ends.
   */
  private whiteoutTemplate(name: string): string {
    if (this.template) return this.template;
    const path = join(this.root, `.wh..berth-whiteout-${process.pid}-${Date.now()}`);
    const r = spawnSync('mknod', ['-m', '0', '--', path, 'c', '0', '0'], { encoding: 'utf8' });
    if (r.error || r.status !== 0) throw new BerthError('Internal', `whiteout ${name} failed: ${r.error?.message ?? r.stderr.trim()}`);
    this.template = path;
    return path;
  }

  /** Removes the whiteout template; safe to call more than once. */
  cleanup(): void {
    if (this.template) rmSync(this.template, { force: true });
    this.template = undefined;
  }

  /** Directory mtimes, deepest first; only paths still known as real directories. */
  finish(): void {
    this.cleanup();
    for (let i = this.dirTimes.length - 1; i >= 0; i--) {
      const [rel, mtime] = this.dirTimes[i]!;
      if (!this.dirs.has(rel)) continue;
      const fd = openSync(this.abs(rel), C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW);
      try {
        futimesSync(fd, mtime, mtime);
      } finally {
        closeSync(fd);
      }
    }
  }
}
