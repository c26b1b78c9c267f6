import { spawn } from 'node:child_process';
import { lstat, readlink, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { NotFoundError } from '@berth/image-format';
import { locateInRoot, packableHeader, withPaxTimes, type RootMount } from '@berth/layer-store';

/** Docker's `X-Docker-Container-Path-Stat`: mode uses Go's os.FileMode bits. */
export interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

const GO_DIR = 2 ** 31;
const GO_SYMLINK = 2 ** 27;
const GO_NAMED_PIPE = 2 ** 25;
const GO_SOCKET = 2 ** 24;
const GO_SETUID = 2 ** 23;
const GO_SETGID = 2 ** 22;
const GO_DEVICE = 2 ** 26;
const GO_CHARDEV = 2 ** 21;
const GO_STICKY = 2 ** 20;

/** A mount of the container seen from the host (layer-store's in-root resolver redirects paths below it). */
export type { RootMount } from '@berth/layer-store';

/**
 * Docker's container StatPath: the last element is followed only when the path ends in
 * `/` or `/.`; the name is the requested path's base name. `resolved` is the container path.
 */
export async function statPath(root: string, path: string, mounts: readonly RootMount[] = []): Promise<{ host: string; resolved: string; stat: PathStat }> {
  const { host, path: resolved } = locateInRoot(root, path, { followLast: /\/\.?$/.test(path), mounts });
  let st;
  try {
    // The root itself may be a link on the host (/proc/<pid>/root): it is the container's /.
    st = resolved === '/' ? await stat(host) : await lstat(host);
  } catch {
    throw new NotFoundError(`Could not find the file ${path} in container`);
  }
  let mode = st.mode & 0o777;
  if (st.isDirectory()) mode += GO_DIR;
  if (st.isSymbolicLink()) mode += GO_SYMLINK;
  if (st.isFIFO()) mode += GO_NAMED_PIPE;
  if (st.isSocket()) mode += GO_SOCKET;
  if (st.isBlockDevice()) mode += GO_DEVICE;
  if (st.isCharacterDevice()) mode += GO_DEVICE + GO_CHARDEV;
  if (st.mode & 0o4000) mode += GO_SETUID;
  if (st.mode & 0o2000) mode += GO_SETGID;
  if (st.mode & 0o1000) mode += GO_STICKY;
  const name = posix.basename(path.replace(/\/+$/, '')) || '/';
  return {
    host,
    resolved,
    stat: {
      name,
      size: st.size,
      mode,
      mtime: st.mtime.toISOString(),
      linkTarget: st.isSymbolicLink() ? await readlink(host) : '',
    },
  };
}

/** A tar of `host` (its base name as the top entry; `/.` suffix: the contents), symlinks not followed. */
export function tarOf(host: string, contentsOnly: boolean): Readable {
  const args = contentsOnly ? ['--numeric-owner', '-C', host, '-cf', '-', '.'] : ['--numeric-owner', '-C', posix.dirname(host), '-cf', '-', posix.basename(host)];
  const tar = spawn('tar', args, { stdio: ['ignore', 'pipe', 'ignore'] });
  tar.stdout.on('close', () => {
    if (tar.exitCode === null) tar.kill();
  });
  return tar.stdout;
}

/**
 * Renames the first path element `from` of every entry (and hard link target) to `to`:
 * Docker's archive rebase, for a path reached through a link (`/link/` archives as `link/...`)
 * and for the root (`./etc` archives as `/etc`).
 */
export function rebaseTar(input: Readable, from: string, to: string): Readable {
  const swap = (name: string): string => (name === from || name.startsWith(from + '/') ? to + name.slice(from.length) : name);
  const extract = tar.extract();
  const pack = tar.pack();
  extract.on('entry', (read, stream, next) => {
    const header = withPaxTimes(read);
    header.name = swap(header.name);
    if (header.type === 'link' && header.linkname) header.linkname = swap(header.linkname);
    stream.pipe(pack.entry(packableHeader(header), (err) => (err ? pack.destroy(err) : next())) as unknown as NodeJS.WritableStream);
  });
  extract.on('finish', () => pack.finalize());
  extract.on('error', (err) => pack.destroy(err));
  input.on('error', (err) => extract.destroy(err));
  const out = pack as unknown as Readable;
  out.on('close', () => input.destroy());
  input.pipe(extract as unknown as NodeJS.WritableStream);
  return out;
}

/**
 * The tar GET /containers/{id}/archive sends for `requested` (resolved to container path
 * `resolved`, host path `host`): `dir/.` gives the contents (`./...`), the root gives
 * `/...`, anything else its requested base name as the first element.
 */
export function archiveOf(host: string, resolved: string, requested: string, name: string): Readable {
  if (/\/\.$/.test(requested)) return tarOf(host, true);
  if (resolved === '/') return rebaseTar(tarOf(host, true), '.', '');
  const tar = tarOf(host, false);
  return posix.basename(host) === name ? tar : rebaseTar(tar, posix.basename(host), name);
}
