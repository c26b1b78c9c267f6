import {
  chmodSync,
  closeSync,
  constants as C,
  fchmodSync,
  fchownSync,
  futimesSync,
  linkSync,
  lchownSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import type { Header } from 'tar-stream';
import { BerthError, InvalidArgumentError, type LayerCompression } from '@berth/image-format';
import { hostPathIn, locateInRoot, UnsafePathError, type InRootPath, type RootMount } from './resolve-in-root.js';
import type { TarLimits } from './tar-guard.js';
import { walkTar, type TarWalkResult } from './tar-entries.js';
import { runHostTool } from './host-tools.js';
import { setXattr } from './xattr.js';
import { checkLayerName, layerHardlinkTarget, layerXattrAllowed, OPAQUE, refuseEntry, UnsafeEntryError, WHITEOUT, whiteoutTarget } from './layer-entries.js';
import { withPaxTimes } from './tar-times.js';

export { UnsafeEntryError };

/**
 * How names, links and parents are judged — the one thing that legitimately differs
 * between the places a tar meets the filesystem:
 * - 'layer' (image layers, build contexts): absolute names and `..` are refused; a symlink
 *   on the way to an entry is refused, never followed; a hard link names an entry of the
 *   root; symlink targets are free (they are resolved later, inside the container).
 * - 'chroot' (docker cp into a container, Docker's untar run chrooted in it): a name is
 *   joined onto `dest` with `..` clamped at the root and must stay inside `dest`
 *   (`"x" is outside of "/dest"`); symlinks on the way are followed with the root as `/`;
 *   a relative symlink and a hard link must point inside `dest` (`invalid symlink`, `invalid hardlink`).
 * - 'host' (berth cp out of a container: Docker's untar on the host): as 'chroot', but `..`
 *   is not clamped (the root is a host directory) and a symlink on the way is refused.
 */
export type ExtractRules = 'layer' | 'chroot' | 'host';

export interface ExtractPolicy {
  rules: ExtractRules;
  compression?: LayerCompression;
  /** The directory inside the root that names are relative to (default `/`). */
  dest?: string;
  /** 'overlay': whiteouts become overlayfs whiteouts; 'delete': they delete; absent: `.wh.` names are ordinary entries. */
  whiteouts?: 'overlay' | 'delete';
  /** Owners: the tar's ids (as root), the extracting user's ('none', Docker's NoLchown), or fixed ids (docker cp's copyUIDGID). */
  owner: 'tar' | 'none' | { uid: number; gid: number };
  /** Char and block devices may be made (fifos always may); else they are refused. */
  devices: boolean;
  /** Apply the entries' PAX xattrs (user.*, security.capability, ACLs, trusted.* but overlay's own). */
  xattrs?: boolean;
  /** Docker's NoOverwriteDirNonDir: a directory is not replaced by a non-directory, nor the reverse. */
  noOverwriteDirNonDir?: boolean;
  /** Mounts not in place under the root (a stopped container's volumes): entries below one land in its source. */
  mounts?: readonly RootMount[];
  /** In-root paths where something is mounted: merged into when both are directories, never replaced (EBUSY). */
  mountPoints?: ReadonlySet<string>;
  /** Whether the in-root directory (resolved) is read-only: an entry there fails with EROFS, as in the container. */
  readOnly?: (dir: string) => boolean;
  /** How a path is shown in messages (default: the in-root path; 'host' extraction shows host paths). */
  display?: (path: string) => string;
  limits?: Partial<TarLimits>;
  /** Hash the uncompressed stream (a layer's diffID). */
  digest?: boolean;
  /** Called with each entry's header once the extractor has written the entry (e.g. to read PAX records it does not apply). */
  onEntry?: (header: Header) => void | Promise<void>;
}

/** The digest is there when asked for. */
export type ExtractResult = TarWalkResult;


/**
 * THE guarded tar extractor of Berth: layers, build contexts, docker cp into a container
 * and berth cp onto the host all extract through it. Streams (memory stays bounded at any
 * size: one chunk at a time, written as it comes), never writes outside `root`, never
 * executes anything from the archive. Every parent is found by locateInRoot; files are
 * created O_CREAT|O_EXCL|O_NOFOLLOW (what is in the way is removed first), metadata is set
 * through descriptors; caps on entries, bytes and PAX headers hold for every caller.
 *
 * Errors are thrown as they are: refusals as UnsafeEntryError (InvalidArgument), fs errors
 * with `entryPath` (the entry as `display` shows it) for callers that word them as Docker.
 * A failure leaves the entries before it in place; a file cut short is removed.
 */
export async function extractTar(input: Readable, root: string, policy: ExtractPolicy): Promise<ExtractResult> {
  const x = new Extraction(root, policy);
  let result: ExtractResult;
  try {
    result = await walkTar(
      input,
      {
        compression: policy.compression ?? 'none',
        ...(policy.limits ? { limits: policy.limits } : {}),
        digest: policy.digest ?? false,
        // The entry handler's refusal or fs failure is the cause; a stream's error when it has none.
        ownError: (e) => e instanceof BerthError || (e as NodeJS.ErrnoException | undefined)?.syscall !== undefined,
      },
      async (h, data, xattrs) => {
        const header = withPaxTimes(h);
        await x.entry(header, data, xattrs);
        await policy.onEntry?.(header);
      },
    );
  } catch (err) {
    x.cleanup();
    throw err;
  }
  x.finish();
  return result;
}

const inside = (path: string, dir: string): boolean => dir === '/' || path === dir || path.startsWith(dir + '/');

/** Go's filepath.Join for in-root paths: `..` is clamped at `/` when `clamp`, else undefined when it climbs above. */
function joinPath(dir: string, name: string, clamp: boolean): string | undefined {
  const out: string[] = dir.split('/').filter(Boolean);
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c !== '..') out.push(c);
    else if (out.length > 0) out.pop();
    else if (!clamp) return undefined;
  }
  return '/' + out.join('/');
}

interface Parent {
  host: string;
  /** The resolved in-root path. */
  path: string;
}

class Extraction {
  private readonly rules: ExtractRules;
  private readonly dest: string;
  private readonly display: (path: string) => string;
  private readonly mounts: readonly RootMount[];
  private readonly mountPoints: Set<string>;
  /** In-root directory (as named) -> where it resolved; see invalidate(). */
  private readonly parents = new Map<string, Parent>();
  /** In-root paths this extraction made, for opaque directories applied as deletions. */
  private readonly created = new Set<string>();
  private readonly dirTimes: [string, Date][] = [];
  private template: string | undefined;

  constructor(private readonly root: string, private readonly p: ExtractPolicy) {
    this.rules = p.rules;
    this.dest = posix.normalize('/' + (p.dest ?? '/')).replace(/(.)\/+$/, '$1');
    this.display = p.display ?? ((path) => path);
    this.mounts = p.mounts ?? [];
    this.mountPoints = new Set([...(p.mountPoints ?? []), ...this.mounts.map((m) => posix.normalize(m.destination))]);
    this.parents.set('/', { host: root, path: '/' });
  }

  private refuse(name: string, why: string): UnsafeEntryError {
    return refuseEntry(name, why);
  }

  private hostOf(path: string): string {
    return hostPathIn(this.root, path, this.mounts);
  }

  /** The in-root path an entry name stands for, by the rules; refusals as Docker or the layer rules word them. */
  private entryPath(name: string): string {
    if (this.rules === 'layer') checkLayerName(name);
    else if (name.includes('\0')) throw this.refuse(name, 'NUL byte in path');
    const path = joinPath(this.dest, name, this.rules === 'chroot');
    if (path === undefined || !inside(path, this.dest)) {
      throw new UnsafeEntryError(`${JSON.stringify(posix.normalize(name).replace(/(.)\/+$/, '$1'))} is outside of ${JSON.stringify(this.display(this.dest))}`);
    }
    return path;
  }

  /**
   * The directory `dir` (in-root, as named), resolved by the rules and made (0755, one
   * component at a time) where missing. A non-directory on the way fails as mkdir would.
   */
  private parent(dir: string, name: string): Parent {
    const known = this.parents.get(dir);
    if (known) return known;
    // Resolve from the deepest directory already known: its components are real directories.
    let base = posix.dirname(dir);
    while (!this.parents.has(base)) base = posix.dirname(base);
    const from = this.parents.get(base)!;
    const rest = dir.slice(base === '/' ? 1 : base.length + 1);
    let at: InRootPath;
    try {
      at = locateInRoot(this.root, posix.join(from.path, rest), { symlinks: this.rules === 'chroot' ? 'follow' : 'refuse', mounts: this.mounts });
    } catch (err) {
      if (err instanceof UnsafePathError && this.rules === 'layer') throw this.refuse(name, err.message);
      if (this.rules === 'chroot' && (err as NodeJS.ErrnoException).code === 'ELOOP') throw Object.assign(new Error('too many levels of symbolic links'), { code: 'ELOOP', syscall: 'open' });
      if (err instanceof UnsafePathError) throw new UnsafeEntryError(`${JSON.stringify(name)} is outside of ${JSON.stringify(this.display(this.dest))} (${err.message})`);
      throw err;
    }
    if (at.missing.length === 0 && at.stat && !at.stat.isDirectory() && !(at.path === '/')) {
      if (this.rules === 'layer') throw this.refuse(name, `parent "${at.path.slice(1)}" is not a directory`);
      throw Object.assign(new Error(`not a directory`), { code: 'ENOTDIR', syscall: 'mkdir', entryPath: this.display(dir) });
    }
    // Create what is missing one component at a time, each checked to be a directory.
    const made = at.path.split('/').filter(Boolean);
    for (let i = made.length - at.missing.length; i < made.length; i++) {
      const inRoot = '/' + made.slice(0, i + 1).join('/');
      const host = this.hostOf(inRoot);
      try {
        mkdirSync(host, 0o755);
        this.created.add(inRoot);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EEXIST') throw Object.assign(err as Error, { entryPath: this.display(dir) });
      }
      const st = lstatSync(host);
      if (!st.isDirectory()) {
        if (this.rules === 'layer') throw this.refuse(name, `parent "${inRoot.slice(1)}" is not a directory`);
        throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR', syscall: 'mkdir', entryPath: this.display(dir) });
      }
    }
    const resolved = { host: at.host, path: at.path };
    this.parents.set(dir, resolved);
    return resolved;
  }

  /**
   * After `path` was removed or became a symlink. Under the layer and host rules nothing
   * is followed, so only what was under it goes stale; when links are followed (chroot) a
   * resolution may have passed through it on its way elsewhere: all are dropped.
   */
  private invalidate(path: string): void {
    if (this.rules === 'chroot') {
      for (const k of this.parents.keys()) if (k !== '/') this.parents.delete(k);
      return;
    }
    for (const [k, v] of this.parents) {
      if (k !== '/' && (inside(k, path) || inside(v.path, path))) this.parents.delete(k);
    }
  }

  private lstatOrUndefined(host: string): Stats | undefined {
    try {
      return lstatSync(host);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async entry(h: Header, data: Readable, xattrs: Map<string, Buffer> | undefined): Promise<void> {
    const path = this.entryPath(h.name);
    try {
      await this.place(h, path, data, xattrs);
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { entryPath?: string };
      if (e && typeof e.code === 'string' && e.entryPath === undefined) e.entryPath = this.display(path);
      throw err;
    } finally {
      data.resume();
    }
  }

  private async place(h: Header, path: string, data: Readable, xattrs: Map<string, Buffer> | undefined): Promise<void> {
    if (path === this.dest) {
      // The destination itself ("./"): a layer sets the root's metadata; docker cp leaves it.
      if (this.rules === 'layer' && h.type === 'directory' && path === '/') await this.dirMeta(this.root, '/', h, xattrs, true);
      return;
    }
    const base = posix.basename(path);
    if (this.p.whiteouts && base.startsWith(WHITEOUT)) return await this.whiteout(path, base, h.name);
    const parent = this.parent(posix.dirname(path), h.name);
    if (this.p.readOnly?.(parent.path)) {
      throw Object.assign(new InvalidArgumentError(`open ${this.display(path)}: read-only file system`), { entryPath: this.display(path) });
    }
    const at = posix.join(parent.path, base);
    const host = this.mounts.length > 0 ? this.hostOf(at) : posix.join(parent.host, base);
    const isDir = h.type === 'directory';
    if (this.mountPoints.has(at)) {
      const here = this.lstatOrUndefined(host);
      if (!isDir || !here?.isDirectory()) throw Object.assign(new Error(`${path} is a mount point`), { code: 'EBUSY', syscall: 'unlinkat' });
    }
    this.created.add(at);
    switch (h.type) {
      case 'file':
      case 'contiguous-file':
      case null:
      case undefined:
        return this.file(at, host, path, h, data, xattrs);
      case 'directory': {
        const existing = this.lstatOrUndefined(host);
        if (!existing?.isDirectory()) {
          if (existing) this.clear(at, host, path, existing, true);
          mkdirSync(host, 0o755);
        }
        this.parents.set(path, { host, path: at });
        await this.dirMeta(host, at, h, xattrs, false);
        return;
      }
      case 'symlink': {
        const target = h.linkname ?? '';
        if (this.rules === 'layer' && !target) throw this.refuse(h.name, 'symlink without a target');
        const resolved = this.rules === 'layer' || target.startsWith('/') ? undefined : joinPath(posix.dirname(path), target, this.rules === 'chroot');
        if (this.rules !== 'layer' && !target.startsWith('/') && (resolved === undefined || !inside(resolved, this.dest))) {
          throw new UnsafeEntryError(`invalid symlink ${JSON.stringify(this.display(path))} -> ${JSON.stringify(target)}`);
        }
        this.clearIfThere(at, host, path, false);
        // (a new name: no resolution went through it; clear() dropped what did through the old one)
        symlinkSync(target, host);
        this.chown(h, (uid, gid) => lchownSync(host, uid, gid));
        // Linux refuses user.* xattrs on symlinks; an image carrying one loses nothing.
        await this.xattrs(host, xattrs && new Map([...xattrs].filter(([k]) => !k.startsWith('user.'))), h.name);
        const mtime = h.mtime ?? new Date();
        lutimesSync(host, mtime, mtime);
        return;
      }
      case 'link':
        return this.hardlink(at, host, path, h);
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        if (h.type !== 'fifo' && !this.p.devices) throw this.refuse(h.name, 'device nodes need a privileged apply');
        this.clearIfThere(at, host, path, false);
        const mode = (h.mode ?? 0o644) & 0o7777;
        const kind = h.type === 'fifo' ? ['p'] : [h.type === 'block-device' ? 'b' : 'c', String(h.devmajor ?? 0), String(h.devminor ?? 0)];
        const r = await runHostTool('mknod', ['-m', mode.toString(8), '--', host, ...kind]);
        if (r.status !== 0) throw new BerthError('Internal', `mknod ${this.display(path)}: ${r.stderr}`);
        this.chown(h, (uid, gid) => lchownSync(host, uid, gid));
        // The node was just made by us at a checked path: chmod cannot meet a symlink.
        chmodSync(host, mode);
        await this.xattrs(host, xattrs, h.name);
        const mtime = h.mtime ?? new Date();
        lutimesSync(host, mtime, mtime);
        return;
      }
      default:
        throw h.type && this.rules !== 'layer'
          ? new UnsafeEntryError(`unhandled tar header type ${String(h.type)}`)
          : this.refuse(h.name, `unsupported entry type ${String(h.type)}`);
    }
  }

  /** Makes way for a new entry at `at` where `existing` is; a directory stays for a directory. */
  private clear(at: string, host: string, path: string, existing: Stats, isDir: boolean): void {
    if (this.p.noOverwriteDirNonDir) {
      const dest = JSON.stringify(this.display(this.dest));
      if (existing.isDirectory() && !isDir) throw new UnsafeEntryError(`cannot overwrite directory ${JSON.stringify(this.display(path))} with non-directory ${dest}`);
      if (!existing.isDirectory() && isDir) throw new UnsafeEntryError(`cannot overwrite non-directory ${JSON.stringify(this.display(path))} with directory ${dest}`);
    }
    if (existing.isDirectory() && isDir) return;
    if (existing.isDirectory()) rmSync(host, { recursive: true, force: true });
    else unlinkSync(host);
    if (existing.isDirectory() || existing.isSymbolicLink()) this.invalidate(at);
  }

  private clearIfThere(at: string, host: string, path: string, isDir: boolean): void {
    const existing = this.lstatOrUndefined(host);
    if (existing) this.clear(at, host, path, existing, isDir);
  }

  private async file(at: string, host: string, path: string, h: Header, data: Readable, xattrs: Map<string, Buffer> | undefined): Promise<void> {
    const flags = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;
    let fd: number;
    try {
      fd = openSync(host, flags, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      this.clearIfThere(at, host, path, false);
      fd = openSync(host, flags, 0o600);
    }
    try {
      let written = 0;
      for await (const chunk of data) {
        const buf = chunk as Buffer;
        let off = 0;
        while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
        written += buf.length;
      }
      if (written !== (h.size ?? 0)) throw new InvalidArgumentError('unexpected EOF');
      // Owner before mode: chown clears setuid/setgid bits.
      this.chown(h, (uid, gid) => fchownSync(fd, uid, gid));
      fchmodSync(fd, (h.mode ?? 0o644) & 0o7777);
      const mtime = h.mtime ?? new Date();
      futimesSync(fd, mtime, mtime);
    } catch (err) {
      // A body cut short (the archive ended or broke) leaves no half-written file behind.
      closeSync(fd);
      rmSync(host, { force: true });
      throw err;
    }
    closeSync(fd);
    await this.xattrs(host, xattrs, h.name);
  }

  private hardlink(at: string, host: string, path: string, h: Header): void {
    const linkname = h.linkname ?? '';
    let target: string;
    if (this.rules === 'layer') {
      target = layerHardlinkTarget(h.name, linkname);
    } else {
      const t = joinPath(this.dest, linkname, this.rules === 'chroot');
      if (t === undefined || !inside(t, this.dest)) {
        throw new UnsafeEntryError(`invalid hardlink ${JSON.stringify(this.display(t ?? posix.join(this.dest, linkname)))} -> ${JSON.stringify(linkname)}`);
      }
      target = t;
    }
    // link(2) does not follow the target's last component: a link to a symlink links the symlink.
    let found: InRootPath;
    try {
      found = locateInRoot(this.root, target, { followLast: false, symlinks: this.rules === 'chroot' ? 'follow' : 'refuse', mounts: this.mounts });
    } catch (err) {
      if (err instanceof UnsafePathError) throw this.rules === 'layer' ? this.refuse(h.name, err.message) : new UnsafeEntryError(`invalid hardlink ${JSON.stringify(this.display(target))} -> ${JSON.stringify(linkname)}: ${err.message}`);
      throw err;
    }
    if (found.missing.length > 0 || !found.stat) {
      if (this.rules === 'layer') throw this.refuse(h.name, `hardlink target "${linkname}" does not exist`);
      throw Object.assign(new Error('no such file or directory'), { code: 'ENOENT', syscall: 'link', entryPath: `${this.display(target)} ${this.display(path)}` });
    }
    if (found.stat.isDirectory()) throw this.rules === 'layer' ? this.refuse(h.name, 'hardlink to a directory') : Object.assign(new Error('operation not permitted'), { code: 'EPERM', syscall: 'link', entryPath: `${this.display(target)} ${this.display(path)}` });
    if (found.path === at) return;
    this.clearIfThere(at, host, path, false);
    linkSync(found.host, host);
  }

  private chown(h: Header, set: (uid: number, gid: number) => void): void {
    const o = this.p.owner;
    if (o === 'none') return;
    if (o === 'tar') set(h.uid ?? 0, h.gid ?? 0);
    else set(o.uid, o.gid);
  }

  private async dirMeta(host: string, at: string, h: Header, xattrs: Map<string, Buffer> | undefined, isRootDir: boolean): Promise<void> {
    // The root is the caller's (and may be a link such as /proc/<pid>/root); below it nothing is followed.
    const fd = openSync(host, C.O_RDONLY | C.O_DIRECTORY | (isRootDir ? 0 : C.O_NOFOLLOW));
    try {
      this.chown(h, (uid, gid) => fchownSync(fd, uid, gid));
      fchmodSync(fd, (h.mode ?? 0o755) & 0o7777);
    } finally {
      closeSync(fd);
    }
    await this.xattrs(host, xattrs, h.name);
    // Creating children changes a directory's mtime: set it once they are all in.
    this.dirTimes.push([at, h.mtime ?? new Date()]);
  }

  private async xattrs(host: string, xattrs: Map<string, Buffer> | undefined, name: string): Promise<void> {
    if (!xattrs || !this.p.xattrs) return;
    for (const [k, v] of xattrs) {
      if (!layerXattrAllowed(k)) continue;
      try {
        await setXattr(host, k, v);
      } catch (err) {
        throw this.refuse(name, `xattr ${k}: ${(err as Error).message}`);
      }
    }
  }

  private async whiteout(path: string, base: string, name: string): Promise<void> {
    const overlay = this.p.whiteouts === 'overlay';
    const dir = posix.dirname(path);
    if (!overlay) {
      // Deleting in a directory that is not there deletes nothing.
      try {
        if (locateInRoot(this.root, dir, { symlinks: 'refuse' }).missing.length > 0) return;
      } catch (err) {
        throw err instanceof UnsafePathError ? this.refuse(name, err.message) : err;
      }
    }
    const parent = this.parent(dir, name);
    if (base === OPAQUE) {
      if (overlay) await setXattr(parent.host, 'trusted.overlay.opaque', Buffer.from('y'));
      else {
        for (const child of readdirSync(parent.host)) {
          const at = posix.join(parent.path, child);
          if (this.created.has(at)) continue;
          rmSync(posix.join(parent.host, child), { recursive: true, force: true });
          this.invalidate(at);
        }
      }
      return;
    }
    const target = whiteoutTarget(name, base);
    const at = posix.join(parent.path, target);
    const host = posix.join(parent.host, target);
    const existing = this.lstatOrUndefined(host);
    if (existing) {
      rmSync(host, { recursive: true, force: true });
      this.invalidate(at);
    }
    if (overlay) linkSync(await this.whiteoutTemplate(name), host);
  }

  /**
   * Node cannot mknod: one `mknod` makes a 0/0 character device and every whiteout is a
   * hardlink of it (overlayfs itself shares whiteouts this way). It sits in the root
   * under a name no archive path can take and is removed when the extraction ends.
   */
  private async whiteoutTemplate(name: string): Promise<string> {
    if (this.template) return this.template;
    const path = posix.join(this.root, `.wh..berth-whiteout-${process.pid}-${Date.now()}`);
    const r = await runHostTool('mknod', ['-m', '0', '--', path, 'c', '0', '0']);
    if (r.status !== 0) throw new BerthError('Internal', `whiteout ${name} failed: ${r.stderr}`);
    this.template = path;
    return path;
  }

  /** Removes the whiteout template; safe to call more than once. */
  cleanup(): void {
    if (this.template) rmSync(this.template, { force: true });
    this.template = undefined;
  }

  /**
   * The host path of a directory this extraction made or merged, if a later entry did not
   * replace it or a directory on its way (by a link, say); else throws.
   */
  private stillADirectory(at: string): string {
    // Nothing is followed under these rules and a replacement dropped it (and all under it).
    if (this.rules !== 'chroot') {
      if (!this.parents.has(at)) throw new Error('replaced');
      return this.hostOf(at);
    }
    const found = locateInRoot(this.root, at, { symlinks: 'refuse', mounts: this.mounts });
    if (found.missing.length > 0) throw new Error('gone');
    return found.host;
  }

  /** Directory mtimes, deepest first, of what is still a real directory where it was. */
  finish(): void {
    this.cleanup();
    for (let i = this.dirTimes.length - 1; i >= 0; i--) {
      const [at, mtime] = this.dirTimes[i]!;
      let fd: number;
      try {
        fd = at === '/' ? openSync(this.root, C.O_RDONLY | C.O_DIRECTORY) : openSync(this.stillADirectory(at), C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW);
      } catch {
        continue;
      }
      try {
        futimesSync(fd, mtime, mtime);
      } finally {
        closeSync(fd);
      }
    }
  }
}
