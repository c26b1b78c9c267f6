// The host side of `berth cp`, after Docker's pkg/archive copy.go: what a copy source and
// destination are, how the tar is renamed so the daemon (or the host) extracts it to the
// right name, and a host extraction that never writes outside the destination.
import { spawn } from 'node:child_process';
import { lstat, readlink, realpath, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { PassThrough, pipeline as pipelineCb, type Readable } from 'node:stream';
import tar, { type Header } from 'tar-stream';
import { BerthError, InvalidArgumentError } from '@berth/image-format';
import { extractTar } from '@berth/layer-store/archive';

/** Docker's archive.CopyInfo. */
export interface CopyInfo {
  path: string;
  exists: boolean;
  isDir: boolean;
  rebaseName: string;
}

/** Go's filepath.Clean. */
export function clean(p: string): string {
  if (p === '') return '.';
  const n = posix.normalize(p);
  return n.length > 1 ? n.replace(/\/+$/, '') : n;
}

/** Go's filepath.Base. */
export function base(p: string): string {
  const c = p.replace(/\/+$/, '');
  if (c === '') return p === '' ? '.' : '/';
  return posix.basename(c);
}

const hasTrailingSeparator = (p: string): boolean => p.endsWith('/');
const specifiesCurrentDir = (p: string): boolean => base(p) === '.';
/** The path says it is a directory: a trailing `/` or `/.`. */
const assertsDirectory = (p: string): boolean => hasTrailingSeparator(p) || specifiesCurrentDir(p);

/** Directory and entry of a path, keeping a trailing `.` (`a/b/.` -> `a/b`, `.`). */
export function splitPathDirEntry(p: string): { dir: string; base: string } {
  let cleaned = clean(p);
  if (specifiesCurrentDir(p)) cleaned += '/.';
  return { dir: posix.dirname(cleaned), base: base(cleaned) };
}

/** Puts back the trailing `/.` or `/` of `original` on a cleaned path. */
export function preserveTrailingDotOrSeparator(cleaned: string, original: string): string {
  if (specifiesCurrentDir(original) && !specifiesCurrentDir(cleaned)) {
    if (!hasTrailingSeparator(cleaned)) cleaned += '/';
    cleaned += '.';
  }
  if (hasTrailingSeparator(original) && !hasTrailingSeparator(cleaned)) cleaned += '/';
  return cleaned;
}

/** `path` with its trailing `/` or `/.` kept on `resolved`, and the name the archive must carry if the last element changed. */
export function rebaseName(path: string, resolved: string): { path: string; rebaseName: string } {
  if (specifiesCurrentDir(path) && !specifiesCurrentDir(resolved)) resolved += '/.';
  if (hasTrailingSeparator(path) && !hasTrailingSeparator(resolved)) resolved += '/';
  return { path: resolved, rebaseName: base(path) !== base(resolved) ? base(path) : '' };
}

/** An fs error worded like Go's os.PathError (`lstat /x: no such file or directory`). */
function goPathError(op: string, path: string, err: unknown): BerthError {
  const code = (err as NodeJS.ErrnoException).code;
  const text: Record<string, string> = {
    ENOENT: 'no such file or directory',
    ENOTDIR: 'not a directory',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    ELOOP: 'too many levels of symbolic links',
  };
  const msg = `${op} ${path}: ${(code && text[code]) ?? (err as Error).message}`;
  return code === 'ENOENT' ? new BerthError('NotFound', msg, { cause: err }) : new InvalidArgumentError(msg, { cause: err });
}

/** Go's filepath.EvalSymlinks with its error wording: the first missing component is named. */
async function evalSymlinks(p: string): Promise<string> {
  try {
    return await realpath(p);
  } catch (err) {
    const parts = clean(p).split('/');
    for (let i = 1; i <= parts.length; i++) {
      const prefix = parts.slice(0, i).join('/') || '/';
      try {
        await lstat(prefix);
      } catch (e) {
        throw goPathError('lstat', prefix, e);
      }
    }
    throw goPathError('lstat', clean(p), err);
  }
}

/**
 * Docker's CopyInfoSourcePath: links before the last `/` are resolved on the host; the
 * last element is followed only with `followLink` (-L). The source must exist.
 */
export async function copyInfoSourcePath(path: string, followLink: boolean): Promise<CopyInfo> {
  let resolved: string;
  let rebase = '';
  if (followLink) {
    const r = rebaseName(path, await evalSymlinks(path));
    resolved = r.path;
    rebase = r.rebaseName;
  } else {
    const cut = path.lastIndexOf('/') + 1;
    const dirPath = path.slice(0, cut);
    const basePath = path.slice(cut);
    // Go joins by hand: `/` + `/` + `x` gives `//x` (and docker prints it so).
    resolved = (await evalSymlinks(dirPath === '' ? '.' : dirPath)) + '/' + basePath;
    if (hasTrailingSeparator(path) && base(path) !== base(resolved)) rebase = base(path);
  }
  let st;
  try {
    st = await lstat(resolved);
  } catch (err) {
    throw goPathError('lstat', resolved, err);
  }
  return { path: resolved, exists: true, isDir: st.isDirectory(), rebaseName: rebase };
}

/**
 * Docker's CopyInfoDestinationPath on the host: links of the last element are followed
 * (a broken one is fine: the copy creates its target); a missing path needs its parent.
 */
async function copyInfoDestinationPath(path: string): Promise<CopyInfo> {
  const original = path;
  let st = await lstat(path).catch((e: NodeJS.ErrnoException) => e);
  for (let n = 0; !(st instanceof Error) && st.isSymbolicLink(); n++) {
    if (n > 10) throw new InvalidArgumentError(`too many symlinks in ${original}`);
    let target = await readlink(path);
    if (!target.startsWith('/')) target = posix.join(splitPathDirEntry(path).dir, target);
    path = target;
    st = await lstat(path).catch((e: NodeJS.ErrnoException) => e);
  }
  if (!(st instanceof Error)) return { path, exists: true, isDir: st.isDirectory(), rebaseName: '' };
  if (st.code !== 'ENOENT') throw goPathError('lstat', path, st);
  const parent = splitPathDirEntry(path).dir;
  let ps;
  try {
    ps = await stat(parent);
  } catch (err) {
    throw goPathError('stat', parent, err);
  }
  if (!ps.isDirectory()) throw new InvalidArgumentError('not a directory');
  return { path, exists: false, isDir: false, rebaseName: '' };
}

/** A tar of a host path: its base name as the first element (or, for `dir/.`, `./...`), owners numeric, links kept. */
export function tarResource(info: CopyInfo): Readable {
  const { dir, base: entry } = splitPathDirEntry(info.path);
  const child = spawn('tar', ['--numeric-owner', '-C', dir, '-cf', '-', entry], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = new PassThrough();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stderr.on('error', () => {});
  child.stdout.on('error', (err) => out.destroy(err));
  child.stdout.pipe(out, { end: false });
  child.on('close', (code) => {
    if (code === 0) out.end();
    else out.destroy(new BerthError('Internal', `archiving ${info.path}: ${stderr.trim() || `tar exited ${code}`}`));
  });
  child.on('error', (err) => out.destroy(err));
  out.on('close', () => {
    if (child.exitCode === null) child.kill();
  });
  const tarStream = info.rebaseName ? rebaseArchiveEntries(out, entry, info.rebaseName) : out;
  return tarStream;
}

/** Docker's RebaseArchiveEntries: the first `oldBase` of every name (and hard link target) becomes `newBase`. */
export function rebaseArchiveEntries(content: Readable, oldBase: string, newBase: string): Readable {
  if (oldBase === '/') oldBase = '';
  const extract = tar.extract();
  const pack = tar.pack();
  extract.on('entry', (header: Header, stream, next) => {
    header.name = header.name.replace(oldBase, newBase);
    if (header.type === 'link' && header.linkname) header.linkname = header.linkname.replace(oldBase, newBase);
    // Long names are fine: tar-stream writes PAX headers for them.
    const entry = pack.entry(header, (err) => (err ? pack.destroy(err) : next()));
    // A failure of either reaches the pack through the callback above (and tearing the
    // input down destroys both): their own 'error' events carry nothing more.
    entry.on('error', () => {});
    stream.on('error', () => {});
    stream.pipe(entry as unknown as NodeJS.WritableStream);
  });
  // An error on the way in ends the output with it; the output closed early (its reader
  // gave up) ends the input, so a download or a tar child does not run on.
  pipelineCb(content, extract as unknown as NodeJS.WritableStream, (err) => (err ? pack.destroy(err) : pack.finalize()));
  pack.once('close', () => extract.destroy());
  return pack as unknown as Readable;
}

/**
 * Docker's PrepareArchiveCopy: the directory to extract into, and the archive renamed so
 * the extraction gives the destination's name. Errors as Docker's: `cannot copy
 * directory` (a directory onto a file), `no such directory` (a file to `missing/`).
 */
export function prepareArchiveCopy(content: Readable, src: CopyInfo, dst: CopyInfo): { dstDir: string; content: Readable } {
  const { dir: dstDir, base: dstBase } = splitPathDirEntry(dst.path);
  let srcBase = splitPathDirEntry(src.path).base;
  if (dst.exists && dst.isDir) return { dstDir: dst.path, content };
  if (dst.exists && src.isDir) throw new InvalidArgumentError('cannot copy directory');
  if (!dst.exists && !src.isDir && assertsDirectory(dst.path)) throw new BerthError('NotFound', 'no such directory');
  if (src.rebaseName) srcBase = src.rebaseName;
  return { dstDir, content: rebaseArchiveEntries(content, srcBase, dstBase) };
}

/**
 * Docker's Untar with NoLchown and NoOverwriteDirNonDir, on the host, through layer-store's
 * guarded extractor under the host rules: names may not climb out of `dest`, nor pass
 * through a symlink below it (so a link in the archive cannot carry later entries
 * elsewhere); relative symlinks and hard links must stay inside. Files get the running
 * user as owner, the tar's modes and times.
 */
export async function untar(content: Readable, dest: string): Promise<void> {
  dest = clean(dest);
  try {
    await extractTar(content, dest, {
      rules: 'host',
      owner: 'none',
      devices: true,
      noOverwriteDirNonDir: true,
      display: (p) => (p === '/' ? dest : posix.join(dest, p)),
    });
  } catch (err) {
    content.destroy();
    throw err;
  }
}

/** Docker's CopyTo: extracts an archive of `src` (from the daemon) to the host path `dstPath`. */
export async function copyTo(content: Readable, src: CopyInfo, dstPath: string): Promise<void> {
  const dst = await copyInfoDestinationPath(dstPath);
  const prepared = prepareArchiveCopy(content, src, dst);
  await untar(prepared.content, prepared.dstDir);
}
