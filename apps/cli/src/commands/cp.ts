// `berth cp`: docker cp's syntax, copy rules, messages and exit codes, over the archive
// endpoints (HEAD/GET/PUT /containers/{id}/archive).
import { lstat } from 'node:fs/promises';
import { posix } from 'node:path';
import { Transform, pipeline, type Readable, type Writable } from 'node:stream';
import { InvalidArgumentError } from '@berth/image-format';
import type { ContainerPathStat } from '@berth/engine-api';
import { StatusError, type Context } from '../context.js';
import {
  clean,
  copyInfoSourcePath,
  copyTo,
  preserveTrailingDotOrSeparator,
  prepareArchiveCopy,
  rebaseArchiveEntries,
  rebaseName,
  splitPathDirEntry,
  tarResource,
  type CopyInfo,
} from './cp-archive.js';
import { pipeTo } from './containers.js';

interface CpFlags {
  archive?: boolean;
  followLink?: boolean;
  quiet?: boolean;
}

/** Go's os.FileMode bits in the path stat. */
const MODE_DIR = 2 ** 31;
const MODE_SYMLINK = 2 ** 27;
const MODE_DEVICE = 2 ** 26;
const MODE_IRREGULAR = 2 ** 19;

const USAGE = `Usage:  berth cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-
\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH`;

export async function cp(ctx: Context, args: string[], flags: CpFlags): Promise<number> {
  if (args.length !== 2) {
    throw new StatusError(1, `berth: 'berth cp' requires 2 arguments\n\n${USAGE}\n\nRun 'berth cp --help' for more information`);
  }
  const [source, destination] = args as [string, string];
  if (source === '') throw new InvalidArgumentError('source can not be empty');
  if (destination === '') throw new InvalidArgumentError('destination can not be empty');
  // Progress is for people: without -q it still stays quiet when stdout is not a terminal.
  const quiet = flags.quiet ?? !ctx.stdoutIsTTY;
  const src = splitCpArg(source);
  const dst = splitCpArg(destination);
  if (src.container && dst.container) throw new InvalidArgumentError('copying between containers is not supported');
  if (src.container) return copyFromContainer(ctx, src.container, src.path, dst.path, { ...flags, quiet });
  if (dst.container) return copyToContainer(ctx, dst.container, src.path, dst.path, { ...flags, quiet });
  throw new InvalidArgumentError('must specify at least one container source');
}

/**
 * `CONTAINER:PATH` or a local path: an absolute path, one without `:`, or one starting
 * with `.` is local (so `./file:name.txt` is a file).
 */
function splitCpArg(arg: string): { container: string; path: string } {
  if (arg.startsWith('/')) return { container: '', path: arg };
  const i = arg.indexOf(':');
  if (i < 0 || arg.startsWith('.')) return { container: '', path: arg };
  return { container: arg.slice(0, i), path: arg.slice(i + 1) };
}

function resolveLocalPath(p: string): string {
  return preserveTrailingDotOrSeparator(posix.resolve(p), p);
}

async function copyFromContainer(ctx: Context, container: string, srcPath: string, dstPath: string, flags: CpFlags): Promise<number> {
  if (dstPath !== '-') dstPath = resolveLocalPath(dstPath);
  await validateOutputPath(dstPath);
  const client = await ctx.client();
  let rebase = '';
  if (flags.followLink) {
    const st = await client.containerStatPath(container, srcPath).catch(() => undefined);
    if (st && st.mode & MODE_SYMLINK) {
      let target = st.linkTarget;
      if (!target.startsWith('/')) target = posix.join(splitPathDirEntry(srcPath).dir, target);
      const r = rebaseName(srcPath, target);
      srcPath = r.path;
      rebase = r.rebaseName;
    }
  }
  const { stat, tar } = await client.containerGetArchive(container, srcPath);
  const counted = counter(tar);
  try {
    if (dstPath === '-') {
      await pipeTo(counted.stream, ctx.io.stdout as unknown as Writable, false);
      return 0;
    }
    const srcInfo: CopyInfo = { path: srcPath, exists: true, isDir: isDir(stat), rebaseName: rebase };
    let content: Readable = counted.stream;
    if (rebase) content = rebaseArchiveEntries(content, splitPathDirEntry(srcPath).base, rebase);
    await copyTo(content, srcInfo, dstPath);
  } catch (err) {
    // A copy refused before the tar was read (`cannot copy directory`) must not leave the
    // download running: the daemon would be cut off mid-body at exit.
    counted.stream.destroy();
    throw err;
  }
  // docker 28 reports the bytes of the tar it read, for a file too.
  if (!flags.quiet) ctx.err(`Successfully copied ${humanSize(counted.bytes())} to ${dstPath}\n`);
  return 0;
}

async function copyToContainer(ctx: Context, container: string, srcPath: string, dstPath: string, flags: CpFlags): Promise<number> {
  if (srcPath !== '-') srcPath = resolveLocalPath(srcPath);
  const client = await ctx.client();
  const dstInfo: CopyInfo = { path: dstPath, exists: false, isDir: false, rebaseName: '' };
  let st: ContainerPathStat | undefined = await client.containerStatPath(container, dstPath).catch(() => undefined);
  if (st && st.mode & MODE_SYMLINK) {
    let target = st.linkTarget;
    if (!target.startsWith('/')) target = posix.join(splitPathDirEntry(dstPath).dir, target);
    dstInfo.path = target;
    st = await client.containerStatPath(container, target).catch(() => undefined);
  }
  if (st) {
    const bad = badOutputMode(st.mode);
    if (bad) throw new InvalidArgumentError(`destination "${container}:${dstPath}" must be a directory or a regular file: ${bad}`);
    dstInfo.exists = true;
    dstInfo.isDir = isDir(st);
  }
  // Anything else the stat said is ignored: the parent may still exist, and the
  // extraction reports what is wrong.
  let content: Readable;
  let resolvedDst: string;
  if (srcPath === '-') {
    if (!dstInfo.isDir) throw new InvalidArgumentError(`destination "${container}:${dstPath}" must be a directory`);
    content = ctx.io.stdin as unknown as Readable;
    resolvedDst = dstInfo.path;
  } else {
    const srcInfo = await copyInfoSourcePath(srcPath, !!flags.followLink);
    const archive = tarResource(srcInfo);
    let prepared;
    try {
      prepared = prepareArchiveCopy(archive, srcInfo, dstInfo);
    } catch (err) {
      archive.destroy();
      throw err;
    }
    content = prepared.content;
    resolvedDst = prepared.dstDir;
  }
  const counted = counter(content);
  try {
    await client.containerPutArchive(container, resolvedDst, counted.stream, { noOverwriteDirNonDir: true, copyUIDGID: !!flags.archive });
  } finally {
    // stops the local tar if the daemon refused before reading it all
    counted.stream.destroy();
  }
  if (!flags.quiet) ctx.err(`Successfully copied ${humanSize(counted.bytes())} to ${container}:${dstInfo.path}\n`);
  return 0;
}

function isDir(st: ContainerPathStat): boolean {
  return st.mode >= MODE_DIR;
}

/** Docker's ValidateOutputPathFileMode: a device or an irregular file cannot be written to. */
function badOutputMode(mode: number): string | undefined {
  if (Math.floor(mode / MODE_DEVICE) % 2 === 1) return 'got a device';
  if (Math.floor(mode / MODE_IRREGULAR) % 2 === 1) return 'got an irregular file';
  return undefined;
}

/** Docker's ValidateOutputPath: the parent must exist; an existing path must be a directory or a regular file. */
async function validateOutputPath(path: string): Promise<void> {
  const dir = posix.dirname(clean(path));
  if (dir !== '' && dir !== '.') {
    const st = await lstat(dir).catch((e: NodeJS.ErrnoException) => e);
    if (st instanceof Error && st.code === 'ENOENT') throw new InvalidArgumentError(`invalid output path: directory ${JSON.stringify(dir)} does not exist`);
  }
  const st = await lstat(path).catch(() => undefined);
  if (st && !st.isDirectory() && !st.isFile() && !st.isSymbolicLink()) {
    const what = st.isBlockDevice() || st.isCharacterDevice() ? 'got a device' : 'got an irregular file';
    throw new InvalidArgumentError(`invalid output path: ${JSON.stringify(path)} must be a directory or a regular file: ${what}`);
  }
}

/** Counts the bytes that pass (for the "Successfully copied" line). */
function counter(input: Readable): { stream: Readable; bytes: () => number } {
  let n = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      cb(null, chunk);
    },
  });
  // An error or an early end on either side ends both (the download closes, a tar child
  // is killed); whoever reads `t` gets the error.
  pipeline(input, t, () => {});
  return { stream: t, bytes: () => n };
}

/** go-units HumanSizeWithPrecision(n, 3): decimal units, three significant digits. */
export function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
  let i = 0;
  let size = n;
  while (size >= 1000 && i < units.length - 1) {
    size /= 1000;
    i++;
  }
  return `${Number(size.toPrecision(3))}${units[i]}`;
}

