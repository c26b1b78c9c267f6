import { readFile, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { readFirstChunk } from '@berth/engine-api';
import { BerthError, InvalidArgumentError, NotFoundError } from '@berth/image-format';
import { extractTar, locateInRoot, mountOf } from '@berth/layer-store';
import type { RootMount } from './archive.js';

/**
 * Every failure of the extraction reads as dockerd's (its untar runs in a child, hence the
 * exit status): `Error processing tar file(exit status 1): <what>`, a 400. tar-stream's
 * words become Go's archive/tar ones; an fs error names the container path, not the host's.
 */
function asTarError(err: unknown): BerthError {
  const e = err as NodeJS.ErrnoException & { entryPath?: string };
  let what: string;
  if (e && typeof e.code === 'string' && e.syscall) {
    const text: Record<string, string> = {
      ENOENT: 'no such file or directory',
      ENOTDIR: 'not a directory',
      EISDIR: 'is a directory',
      EACCES: 'permission denied',
      EPERM: 'operation not permitted',
      EROFS: 'read-only file system',
      ENOSPC: 'no space left on device',
      EXDEV: 'invalid cross-device link',
      EEXIST: 'file exists',
      EBUSY: 'device or resource busy',
      ENAMETOOLONG: 'file name too long',
      ELOOP: 'too many levels of symbolic links',
    };
    what = `${e.syscall} ${e.entryPath ?? e.path ?? ''}: ${text[e.code] ?? e.code}`;
  } else {
    const message = e?.message ?? String(err);
    if (/invalid tar header/i.test(message)) what = 'archive/tar: invalid tar header';
    else if (/extended header; the limit/.test(message)) what = 'archive/tar: header field too long';
    else if (/unexpected end of data|stream was destroyed|premature close|aborted/i.test(message)) what = 'unexpected EOF';
    else what = message;
  }
  const message = `Error processing tar file(exit status 1): ${what}`;
  // dockerd answers 500 for a busy mount point, 400 for the rest
  return e?.code === 'EBUSY' ? new BerthError('Internal', message, { cause: err }) : new InvalidArgumentError(message, { cause: err });
}

/** gzip input (by its magic) is decompressed on the way; an empty body is no archive at all. */
async function sniff(input: Readable): Promise<{ source: Readable; compression: 'gzip' | 'none' } | null> {
  const { first, rest } = await readFirstChunk(input);
  if (!first) return null;
  return { source: rest, compression: first[0] === 0x1f && first[1] === 0x8b ? 'gzip' : 'none' };
}

/** What PUT /containers/{id}/archive needs to know about the container. */
export interface ExtractTarget {
  /** The container's id or name, for Docker's not-found message. */
  ref: string;
  /** The container's root as the host sees it. */
  root: string;
  /** Mounts not in place under root (stopped container): redirected by path. */
  unmounted: readonly RootMount[];
  /** Where a running container has mounts, as its driver reports them. */
  mountPoints?: readonly string[];
  /** Every mount of the container (destination, writable), for the read-only checks. */
  mounts: readonly { destination: string; rw: boolean }[];
  readonlyRootfs: boolean;
  /** Config.User, for copyUIDGID. */
  user: string;
}

/**
 * Docker's containerExtractToDir: `path` (its last link followed, inside the container)
 * must be a directory — NotFound `Could not find the file <path> in container <ref>`,
 * else InvalidArgument `extraction point is not a directory`; a read-only mount there or
 * a read-only rootfs outside any mount refuses; then the tar is extracted into it.
 */
export async function extractToDir(t: ExtractTarget, path: string, input: Readable, opts: { noOverwriteDirNonDir?: boolean; copyUIDGID?: boolean } = {}): Promise<void> {
  const dest = locateInRoot(t.root, path, { mounts: t.unmounted });
  const st = await stat(dest.host).catch(() => undefined);
  if (!st) throw new NotFoundError(`Could not find the file ${path} in container ${t.ref}`);
  if (!st.isDirectory()) throw new InvalidArgumentError('extraction point is not a directory');
  const mount = mountOf(dest.path, t.mounts);
  if (mount && !mount.rw) throw new InvalidArgumentError('mounted volume is marked read-only');
  if (!mount && t.readonlyRootfs) throw new InvalidArgumentError('container rootfs is marked read-only');
  const owner = opts.copyUIDGID ? await containerUser(t, t.user) : undefined;
  // An empty body is an empty archive (Go's tar reader ends at once on it).
  const sniffed = await sniff(input);
  if (!sniffed) return;
  try {
    // Docker's untar chrooted in the container, as root: names and links judged against
    // the destination, links on the way followed inside the container, owners from the tar.
    await extractTar(sniffed.source, t.root, {
      rules: 'chroot',
      compression: sniffed.compression,
      dest: dest.path,
      owner: owner ?? 'tar',
      devices: true,
      noOverwriteDirNonDir: opts.noOverwriteDirNonDir ?? false,
      mounts: t.unmounted,
      mountPoints: new Set(t.mountPoints ?? []),
      readOnly: (dir) => {
        const m = mountOf(dir, t.mounts);
        return m ? !m.rw : t.readonlyRootfs;
      },
    });
  } catch (err) {
    throw asTarError(err);
  }
}

/** `user[:group]` (names or ids) to ids through the container's /etc/passwd and /etc/group; empty is root. */
async function containerUser(t: ExtractTarget, spec: string): Promise<{ uid: number; gid: number }> {
  const [user = '', group] = spec.split(':');
  const table = async (file: string): Promise<string[][]> => {
    const host = locateInRoot(t.root, file, { mounts: t.unmounted }).host;
    const text = await readFile(host, 'utf8').catch(() => '');
    return text.split('\n').map((l) => l.split(':'));
  };
  let uid = 0;
  let gid = 0;
  if (user !== '') {
    if (/^\d+$/.test(user)) {
      uid = Number(user);
      const row = (await table('/etc/passwd')).find((f) => f[2] === user);
      gid = row ? Number(row[3]) : 0;
    } else {
      const row = (await table('/etc/passwd')).find((f) => f[0] === user);
      if (!row) throw new InvalidArgumentError(`unable to find user ${user}: no matching entries in passwd file`);
      uid = Number(row[2]);
      gid = Number(row[3]);
    }
  }
  if (group !== undefined && group !== '') {
    if (/^\d+$/.test(group)) gid = Number(group);
    else {
      const row = (await table('/etc/group')).find((f) => f[0] === group);
      if (!row) throw new InvalidArgumentError(`unable to find group ${group}: no matching entries in group file`);
      gid = Number(row[2]);
    }
  }
  return { uid, gid };
}
