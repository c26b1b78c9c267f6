import { execFile } from 'node:child_process';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, readFile, rm, stat, symlink, utimes, type FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar, { type Header } from 'tar-stream';
import { readFirstChunk } from '@berth/engine-api';
import { BerthError, InvalidArgumentError, NotFoundError } from '@berth/image-format';
import { mountOf, resolveScoped, type RootMount } from './archive.js';

export interface ExtractOptions {
  /** Docker's noOverwriteDirNonDir: refuse to replace a directory with a non-directory and vice versa. */
  noOverwriteDirNonDir?: boolean;
  /** Docker's copyUIDGID: every entry gets these ids instead of the ones in the tar. */
  owner?: { uid: number; gid: number };
  /** Mounts not in place under `root` (a stopped container's volumes): entries below them land in the source. */
  mounts?: readonly RootMount[];
  /**
   * What may be written: an entry that resolves into a read-only mount, or outside every
   * writable mount when the rootfs is read-only, is refused (EROFS, as in the container).
   */
  writable?: { mounts: readonly { destination: string; rw: boolean }[]; rootfs: boolean };
  /**
   * Container paths where something is mounted (besides `mounts`): such an entry cannot be
   * replaced, only merged into when both are directories. Unlinking it from outside the
   * container's mount namespace would silently take the mount away from the container.
   */
  mountPoints?: ReadonlySet<string>;
}

/**
 * Extracts a tar (plain or gzip) into the container directory `dest` the way `docker cp`
 * does (Docker's archive.Untar run chrooted in the container): entry names are taken
 * relative to `dest` and may not climb out of it (`..`); symlinks may not point out of
 * `dest` lexically; every parent is resolved with symlinks followed inside `root`, so no
 * link in the container or made earlier by the archive leads outside the root; an
 * existing entry is replaced, except a directory by a directory (merged). Owners, modes
 * and times come from the tar. A bad tar is an InvalidArgument `Error processing tar
 * file: ...` raised before the entry it breaks is written (the entries before it stay).
 */
export async function extractInRoot(root: string, dest: string, input: Readable, opts: ExtractOptions = {}): Promise<void> {
  const mounts = opts.mounts ?? [];
  const mountPoints = new Set([...(opts.mountPoints ?? []), ...mounts.map((m) => posix.normalize(m.destination))]);
  dest = posix.normalize('/' + dest).replace(/(.)\/+$/, '$1');
  const source = await maybeGunzip(input);
  // An empty body is an empty archive (Go's tar reader ends at once on it).
  if (!source) return;
  const extract = tar.extract();
  // pipeline destroys the extractor on a bad stream; the loop below sees the error.
  const feeding = pipeline(source, extract).catch(() => undefined);
  // Parent directories resolved so far (container path -> host path). A new symlink or a
  // removal may change how later paths resolve: the cache is dropped then.
  const parents = new Map<string, { host: string; path: string }>();
  const dirTimes: { host: string; header: Header }[] = [];
  const resolveParent = async (dir: string): Promise<{ host: string; path: string }> => {
    const known = parents.get(dir);
    if (known) return known;
    const resolved = await resolveScoped(root, dir, true, mounts);
    parents.set(dir, resolved);
    return resolved;
  };
  const checkWritable = (resolvedParent: string, path: string): void => {
    const w = opts.writable;
    if (!w) return;
    const m = mountOf(resolvedParent, w.mounts);
    if (m ? !m.rw : !w.rootfs) throw new InvalidArgumentError(`open ${path}: read-only file system`);
  };
  // Parent directories known to be directories (host path -> whether new entries inherit its group, setgid).
  const dirs = new Map<string, boolean>();
  const forget = (): void => {
    parents.clear();
    dirs.clear();
  };
  // Owner, mode and times of entries already written run a few at a time, off the tar's
  // critical path (each is a thread-pool round trip); an entry whose path is still busy waits.
  const busy = new Map<string, Promise<void>>();
  let failed: unknown;
  const settle = async (): Promise<void> => {
    await Promise.all(busy.values());
    if (failed) throw failed;
  };
  const later = async (host: string, work: () => Promise<void>): Promise<void> => {
    if (busy.size >= 16) await Promise.race(busy.values());
    const p = work()
      .catch((err: unknown) => {
        failed ??= err;
      })
      .finally(() => busy.delete(host));
    busy.set(host, p);
  };
  const euid = process.geteuid?.() ?? 0;
  let current = dest;
  const egid = process.getegid?.() ?? 0;
  try {
    for await (const entry of extract) {
      if (failed) throw failed;
      const header = entry.header;
      const body = entry as unknown as Readable;
      // Go's filepath.Clean: no trailing slash (`passwd/` is `passwd`).
      const name = posix.normalize(header.name).replace(/(.)\/+$/, '$1');
      const path = posix.join(dest, name);
      current = path;
      if (path !== dest && !path.startsWith(dest === '/' ? '/' : dest + '/')) {
        throw new InvalidArgumentError(`${JSON.stringify(header.name)} is outside of ${JSON.stringify(dest)}`);
      }
      if (path === dest) {
        // "." or "/": the destination itself is left as it is (Docker skips it).
        body.resume();
        continue;
      }
      const parent = posix.dirname(path);
      let resolvedParent = await resolveParent(parent);
      checkWritable(resolvedParent.path, path);
      let parentSetgid = dirs.get(resolvedParent.host);
      if (parentSetgid === undefined) {
        // stat, not lstat: the parent is resolved already, and a root like /proc/<pid>/root is itself a link.
        let parentStat = await stat(resolvedParent.host).catch(() => undefined);
        if (!parentStat) {
          await mkdir(resolvedParent.host, { recursive: true, mode: 0o755 });
          resolvedParent = await resolveParent(parent);
          parentStat = await stat(resolvedParent.host);
        } else if (!parentStat.isDirectory()) {
          throw new InvalidArgumentError(`mkdir ${parent}: not a directory`);
        }
        parentSetgid = (parentStat.mode & 0o2000) !== 0;
        dirs.set(resolvedParent.host, parentSetgid);
      }
      let host = posix.join(resolvedParent.host, posix.basename(path));
      const isDir = header.type === 'directory';
      const entryPath = posix.join(resolvedParent.path, posix.basename(path));
      if (mountPoints.has(entryPath)) {
        // a stopped container's mount is not in place: its source stands for it
        const unmounted = mounts.find((m) => posix.normalize(m.destination) === entryPath);
        if (unmounted) host = unmounted.source;
        const here = await stat(host).catch(() => undefined);
        if (!isDir || !here?.isDirectory()) throw Object.assign(new Error(`${path} is a mount point`), { code: 'EBUSY', syscall: 'unlinkat' });
      }
      const pending = busy.get(host);
      if (pending) await pending;
      // Created first, looked at only when something is in the way (most entries are new).
      let fresh = true;
      const write = (): Promise<FileHandle | undefined> => writeEntry(root, dest, path, host, header, body, mounts);
      let fh: FileHandle | undefined;
      try {
        fh = await write();
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const existing = await lstat(host);
        if (opts.noOverwriteDirNonDir && existing.isDirectory() && !isDir) {
          throw new InvalidArgumentError(`cannot overwrite directory ${JSON.stringify(path)} with non-directory ${JSON.stringify(dest)}`);
        }
        if (opts.noOverwriteDirNonDir && !existing.isDirectory() && isDir) {
          throw new InvalidArgumentError(`cannot overwrite non-directory ${JSON.stringify(path)} with directory ${JSON.stringify(dest)}`);
        }
        fresh = false;
        if (existing.isDirectory() && isDir) {
          body.resume();
        } else {
          await settle();
          await rm(host, { recursive: true, force: true });
          forget();
          fh = await write();
        }
      }
      if (header.type === 'symlink') forget();
      if (isDir) {
        dirTimes.push({ host, header });
        parents.set(path, { host, path: posix.join(resolvedParent.path, posix.basename(path)) });
      }
      // A hard link shares its target's inode: its owner, mode and times are the target's.
      if (header.type === 'link') continue;
      const uid = opts.owner?.uid ?? header.uid ?? 0;
      const gid = opts.owner?.gid ?? header.gid ?? 0;
      // A new entry already has our ids unless its parent hands down its group.
      const chown = !fresh || parentSetgid || uid !== euid || gid !== egid;
      const mode = (header.mode ?? 0o644) & 0o7777;
      await later(host, async () => {
        if (fh) {
          // A regular file: its still-open descriptor, closed here, off the critical path.
          try {
            if (chown) await fh.chown(uid, gid);
            await fh.chmod(mode);
            const mtime = header.mtime ?? new Date();
            await fh.utimes(mtime, mtime);
          } finally {
            await fh.close();
          }
          return;
        }
        if (chown) await lchown(host, uid, gid);
        // After chown, which clears set-id bits.
        if (header.type !== 'symlink') await chmod(host, mode);
        if (!isDir) await setTimes(host, header);
      });
    }
    await feeding;
    await settle();
  } catch (err) {
    source.destroy();
    await Promise.all(busy.values());
    throw asTarError(err, current);
  }
  // Directory times last: writing into a directory moves its mtime.
  for (const { host, header } of dirTimes.reverse()) await setTimes(host, header).catch(() => undefined);
}

async function writeEntry(
  root: string,
  dest: string,
  path: string,
  host: string,
  header: Header,
  body: Readable,
  mounts: readonly RootMount[],
): Promise<FileHandle | undefined> {
  const mode = (header.mode ?? 0o644) & 0o7777;
  switch (header.type) {
    case 'directory':
      // EEXIST is the caller's to handle (merge or replace).
      await mkdir(host, { mode });
      body.resume();
      return;
    case 'file':
    case 'contiguous-file':
    case null:
    case undefined:
      return writeFile(host, mode, body, header.size ?? 0);
    case 'symlink': {
      const target = header.linkname ?? '';
      const resolved = posix.join(posix.dirname(path), target);
      if (!target.startsWith('/') && !inside(resolved, dest)) {
        throw new InvalidArgumentError(`invalid symlink ${JSON.stringify(path)} -> ${JSON.stringify(target)}`);
      }
      body.resume();
      await symlink(target, host);
      return;
    }
    case 'link': {
      const target = posix.join(dest, header.linkname ?? '');
      if (!inside(target, dest)) {
        throw new InvalidArgumentError(`invalid hardlink ${JSON.stringify(target)} -> ${JSON.stringify(header.linkname ?? '')}`);
      }
      body.resume();
      // The target's own last component is not followed: link(2) links a symlink itself.
      const targetHost = (await resolveScoped(root, target, false, mounts)).host;
      await link(targetHost, host);
      return;
    }
    case 'character-device':
    case 'block-device':
    case 'fifo': {
      if (await lstat(host).then(() => true, () => false)) throw Object.assign(new Error(`${path} exists`), { code: 'EEXIST' });
      body.resume();
      const kind = header.type === 'fifo' ? ['p'] : [header.type === 'block-device' ? 'b' : 'c', String(header.devmajor ?? 0), String(header.devminor ?? 0)];
      await new Promise<void>((resolve, reject) =>
        execFile('mknod', ['-m', mode.toString(8), host, ...kind], (err, _o, stderr) =>
          err ? reject(new BerthError('Internal', `mknod ${path}: ${stderr.trim() || err.message}`)) : resolve(),
        ),
      );
      return;
    }
    default:
      body.resume();
      throw new InvalidArgumentError(`unhandled tar header type ${String(header.type)}`);
  }
}

/**
 * Writes an entry's body to a new file (wx: O_CREAT|O_EXCL never follows a link that
 * appeared at this name meanwhile) and hands back its open handle. A body cut short (the
 * archive ended or broke) leaves no half-written file behind.
 */
async function writeFile(host: string, mode: number, body: Readable, size: number): Promise<FileHandle> {
  const fh = await open(host, 'wx', mode);
  let written = 0;
  // Chunks are gathered up to 1 MiB per write: one thread-pool round trip per 64 KiB chunk costs more than the copy.
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async (): Promise<void> => {
    const data = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    let off = 0;
    while (off < data.length) off += (await fh.write(data, off, data.length - off)).bytesWritten;
  };
  try {
    for await (const chunk of body) {
      const buf = chunk as Buffer;
      pending.push(buf);
      pendingBytes += buf.length;
      written += buf.length;
      if (pendingBytes >= 1 << 20) await flush();
    }
    if (pendingBytes > 0) await flush();
    if (written !== size) throw new InvalidArgumentError('unexpected EOF');
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(host, { force: true }).catch(() => undefined);
    throw err;
  }
  // Still open: the caller sets owner, mode and times through it, then closes it.
  return fh;
}

function inside(path: string, dir: string): boolean {
  return dir === '/' || path === dir || path.startsWith(dir + '/');
}

async function setTimes(host: string, header: Header): Promise<void> {
  // Docker sets the access time to the modification time when the tar has none later.
  const mtime = header.mtime ?? new Date();
  if (header.type === 'symlink') await lutimes(host, mtime, mtime);
  else await utimes(host, mtime, mtime);
}

/**
 * Every failure of the extraction reads as dockerd's (its untar runs in a child, hence the
 * exit status): `Error processing tar file(exit status 1): <what>`, a 400. tar-stream's
 * words become Go's archive/tar ones; an fs error names the container path, not the host's.
 */
function asTarError(err: unknown, path: string): BerthError {
  const e = err as NodeJS.ErrnoException;
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
    };
    what = `${e.syscall} ${path}: ${text[e.code] ?? e.code}`;
  } else {
    const message = e?.message ?? String(err);
    if (/invalid tar header/i.test(message)) what = 'archive/tar: invalid tar header';
    else if (/unexpected end of data|stream was destroyed|premature close|aborted/i.test(message)) what = 'unexpected EOF';
    else what = message;
  }
  const message = `Error processing tar file(exit status 1): ${what}`;
  // dockerd answers 500 for a busy mount point, 400 for the rest
  return e?.code === 'EBUSY' ? new BerthError('Internal', message, { cause: err }) : new InvalidArgumentError(message, { cause: err });
}

/** Hands back a stream of tar bytes: gzip input (by its magic) is decompressed on the way. */
async function maybeGunzip(input: Readable): Promise<Readable | null> {
  const { first, rest: out } = await readFirstChunk(input);
  if (!first) return null;
  if (first[0] === 0x1f && first[1] === 0x8b) {
    const gunzip = createGunzip();
    out.pipe(gunzip);
    out.once('error', (err) => gunzip.destroy(err));
    return gunzip;
  }
  return out;
}

/** What PUT /containers/{id}/archive needs to know about the container. */
export interface ExtractTarget {
  /** The container's id or name, for Docker's not-found message. */
  ref: string;
  /** The container's root as the host sees it. */
  root: string;
  /** Mounts not in place under root (stopped container): redirected by path. */
  unmounted: readonly RootMount[];
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
  const dest = await resolveScoped(t.root, path, true, t.unmounted);
  const st = await stat(dest.host).catch(() => undefined);
  if (!st) throw new NotFoundError(`Could not find the file ${path} in container ${t.ref}`);
  if (!st.isDirectory()) throw new InvalidArgumentError('extraction point is not a directory');
  const mount = mountOf(dest.path, t.mounts);
  if (mount && !mount.rw) throw new InvalidArgumentError('mounted volume is marked read-only');
  if (!mount && t.readonlyRootfs) throw new InvalidArgumentError('container rootfs is marked read-only');
  const owner = opts.copyUIDGID ? await containerUser(t, t.user) : undefined;
  await extractInRoot(t.root, dest.path, input, {
    mounts: t.unmounted,
    writable: { mounts: t.mounts, rootfs: !t.readonlyRootfs },
    mountPoints: await runningMountPoints(t.root),
    ...(opts.noOverwriteDirNonDir ? { noOverwriteDirNonDir: true } : {}),
    ...(owner ? { owner } : {}),
  });
}

/** `user[:group]` (names or ids) to ids through the container's /etc/passwd and /etc/group; empty is root. */
async function containerUser(t: ExtractTarget, spec: string): Promise<{ uid: number; gid: number }> {
  const [user = '', group] = spec.split(':');
  const table = async (file: string): Promise<string[][]> => {
    const host = (await resolveScoped(t.root, file, true, t.unmounted)).host;
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

/**
 * The mount points of a running container (its root is /proc/<pid>/root): the binds of
 * /etc/hosts and the like, volumes and binds, /dev... as the container sees them.
 */
async function runningMountPoints(root: string): Promise<Set<string>> {
  const pid = /^\/proc\/(\d+)\/root$/.exec(root)?.[1];
  const points = new Set<string>();
  if (!pid) return points;
  const text = await readFile(`/proc/${pid}/mountinfo`, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const field = line.split(' ')[4];
    // mountinfo escapes space, tab, newline and backslash as octal
    if (field) points.add(field.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return points;
}
