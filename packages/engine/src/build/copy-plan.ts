import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, open, readlink } from 'node:fs/promises';
import { posix } from 'node:path';
import { InvalidArgumentError, NotFoundError } from '@berth/image-format';
import { DockerIgnore } from '@berth/engine-api';
import { LayeredFs, normalize, type TreeEntry } from './layered-fs.js';
import type { RemoteFile } from './remote-source.js';

/** One entry of a COPY/ADD layer. `name` is relative to the image root (`app/x`). */
export interface PlannedEntry {
  name: string;
  type: 'directory' | 'file' | 'symlink' | 'archive';
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
  size: number;
  /** Where the bytes are (file, archive). */
  hostPath?: string;
  linkname?: string;
}

export interface CopyRequest {
  /** Source paths or patterns as written (relative to the tree root). */
  sources: string[];
  /** Where sources come from: the context (`COPY x`) or an image (`COPY --from`). */
  from: LayeredFs;
  fromContext: boolean;
  /** Absolute destination in the image; a trailing `/` means a directory. */
  dest: string;
  /** The image being built on (decides whether `dest` is a directory; which parents are missing). */
  image: LayeredFs;
  owner?: { uid: number; gid: number };
  chmod?: number;
  /** ADD: local tar archives (plain, gzip, bzip2, xz) are extracted into `dest`. */
  extractArchives: boolean;
  instruction: string;
  /** `--exclude` patterns (.dockerignore syntax): against a source's path, and inside a directory source relative to it. */
  exclude?: string[];
  /** `--parents`: each source keeps its path (below a `/./` pivot, else the root) under `dest`. */
  parents?: boolean;
  /** ADD's downloaded URLs: files named by their URL, never unpacked (Docker's rule). */
  remote?: RemoteFile[];
  /** Time of the parent directories the layer creates (default: now). */
  dirMtime?: Date;
}

/**
 * Decides the entries a COPY/ADD layer holds, with Docker's destination rules: a directory
 * source copies its contents; a file goes to `dest/<name>` when `dest` ends with `/` or is an
 * existing directory, else to `dest`; several sources need a directory `dest` ending in `/`;
 * missing parent directories are created 0755 (owned by --chown's owner).
 */
export async function planCopy(req: CopyRequest): Promise<PlannedEntry[]> {
  const ignore = req.exclude?.length ? new DockerIgnore(req.exclude) : undefined;
  const matches: { path: string; entry: TreeEntry; pivot: string; url?: string }[] = [];
  for (const src of req.sources) {
    const cut = req.parents ? src.indexOf('/./') : -1;
    const pivot = cut >= 0 ? normalize(src.slice(0, cut)) : '/';
    const found = (await expand(req.from, src)).filter((f) => !ignore || !(ignore.excludes(f.path.slice(1)) || ignore.excludes(posix.basename(f.path))));
    if (found.length === 0) {
      if (req.fromContext) {
        throw new NotFoundError(`${req.instruction} failed: file not found in build context or excluded by .dockerignore: stat ${src.replace(/^\/+/, '')}: file does not exist`);
      }
      throw new NotFoundError(`${req.instruction} failed: stat ${normalize(src).slice(1)}: file does not exist`);
    }
    matches.push(...found.map((f) => ({ ...f, pivot })));
  }
  for (const r of req.remote ?? []) matches.push({ path: '/' + r.name, entry: { hostPath: r.hostPath, stat: await lstat(r.hostPath) }, pivot: '/', url: r.url });
  const destDirHint = req.dest.endsWith('/') || req.dest.endsWith('/.');
  const dest = normalize(req.dest);
  if (matches.length > 1 && !destDirHint && !req.parents) {
    throw new InvalidArgumentError(`When using ${req.instruction} with more than one source file, the destination must be a directory and end with a /`);
  }
  const existing = await req.image.stat(dest);
  const destIsDir = destDirHint || matches.length > 1 || !!existing?.stat.isDirectory();
  const out: PlannedEntry[] = [];
  const emitted = new Set<string>();
  const uid = req.owner?.uid ?? 0;
  const gid = req.owner?.gid ?? 0;
  const push = (e: PlannedEntry): void => {
    if (emitted.has(e.name)) return;
    emitted.add(e.name);
    out.push(e);
  };
  const ensureDir = async (abs: string, includeSelf: boolean): Promise<void> => {
    const parts = abs.split('/').filter(Boolean);
    const upto = includeSelf ? parts.length : parts.length - 1;
    for (let i = 1; i <= upto; i++) {
      const p = '/' + parts.slice(0, i).join('/');
      const name = p.slice(1);
      if (emitted.has(name)) continue;
      if (await req.image.stat(p)) continue;
      push({ name, type: 'directory', mode: 0o755, uid, gid, mtime: req.dirMtime ?? new Date(), size: 0 });
    }
  };
  const fileMode = (st: TreeEntry['stat']): number => (req.chmod !== undefined ? req.chmod : st.mode & 0o7777);
  for (const m of matches) {
    const st = m.entry.stat;
    // --parents: the source's own path (from its pivot) is kept under dest
    const kept = req.parents && m.url === undefined ? posix.relative(m.pivot, m.path) : undefined;
    if (st.isDirectory()) {
      const into = kept !== undefined ? posix.join(dest, kept) : dest;
      await ensureDir(into, true);
      await walk(req.from, m.path, into, async (rel, e) => {
        if (ignore?.excludes(rel)) return false;
        const name = posix.join(into, rel).slice(1);
        const s = e.stat;
        if (s.isDirectory()) push({ name, type: 'directory', mode: fileMode(s), uid, gid, mtime: s.mtime, size: 0 });
        else if (s.isSymbolicLink()) push({ name, type: 'symlink', mode: 0o777, uid, gid, mtime: s.mtime, size: 0, linkname: await readLink(e.hostPath) });
        else if (s.isFile()) push({ name, type: 'file', mode: fileMode(s), uid, gid, mtime: s.mtime, size: s.size, hostPath: e.hostPath });
      });
      continue;
    }
    if (m.url !== undefined && destIsDir && m.path === '/') throw new InvalidArgumentError(`${req.instruction} failed: cannot determine filename for source ${m.url}`);
    if (req.extractArchives && m.url === undefined && st.isFile() && (await isArchive(m.entry.hostPath))) {
      await ensureDir(dest, true);
      out.push({ name: dest.slice(1), type: 'archive', mode: 0, uid: 0, gid: 0, mtime: st.mtime, size: st.size, hostPath: m.entry.hostPath });
      continue;
    }
    const target = kept !== undefined ? posix.join(dest, kept) : destIsDir ? posix.join(dest, posix.basename(m.path)) : dest;
    await ensureDir(target, false);
    const name = target.slice(1);
    if (st.isSymbolicLink()) push({ name, type: 'symlink', mode: 0o777, uid, gid, mtime: st.mtime, size: 0, linkname: await readLink(m.entry.hostPath) });
    else if (st.isFile()) push({ name, type: 'file', mode: fileMode(st), uid, gid, mtime: st.mtime, size: st.size, hostPath: m.entry.hostPath });
    else throw new InvalidArgumentError(`${req.instruction} failed: ${m.path} is not a regular file, directory or symlink`);
  }
  return out;
}

/** A digest of the plan: names, metadata and file contents (not times), for the build cache. */
export async function hashPlan(entries: PlannedEntry[]): Promise<string> {
  const h = createHash('sha256');
  for (const e of entries) {
    h.update(JSON.stringify([e.name, e.type, e.mode, e.uid, e.gid, e.size, e.linkname ?? '']));
    if (e.hostPath && (e.type === 'file' || e.type === 'archive')) {
      for await (const chunk of createReadStream(e.hostPath)) h.update(chunk as Buffer);
    }
  }
  return h.digest('hex');
}

async function readLink(p: string): Promise<string> {
  return readlink(p);
}

/** Walks a directory tree (sorted, depth first), calling back with paths relative to `root`. */
async function walk(fs: LayeredFs, root: string, _dest: string, visit: (rel: string, e: TreeEntry) => Promise<boolean | void>): Promise<void> {
  const stack: string[] = [''];
  while (stack.length) {
    const rel = stack.pop()!;
    const names = await fs.readdir(posix.join(root, rel));
    const dirs: string[] = [];
    for (const name of names) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const e = await fs.lstat(posix.join(root, childRel));
      if (!e) continue;
      // false: the entry is left out, with all below it
      if ((await visit(childRel, e)) === false) continue;
      if (e.stat.isDirectory()) dirs.push(childRel);
    }
    stack.push(...dirs.reverse());
  }
}

const GLOB = /[*?[]/;

/** A source path, or a pattern (Go's filepath.Match per segment), to the entries it names. */
async function expand(fs: LayeredFs, src: string): Promise<{ path: string; entry: TreeEntry }[]> {
  const clean = normalize(src);
  if (!GLOB.test(clean)) {
    const entry = await fs.stat(clean);
    return entry ? [{ path: clean, entry }] : [];
  }
  let paths = ['/'];
  for (const seg of clean.split('/').filter(Boolean)) {
    const next: string[] = [];
    if (!GLOB.test(seg)) {
      for (const p of paths) next.push(posix.join(p, seg));
    } else {
      const re = globSegment(seg);
      for (const p of paths) for (const name of await fs.readdir(p)) if (re.test(name)) next.push(posix.join(p, name));
    }
    paths = next;
  }
  const out: { path: string; entry: TreeEntry }[] = [];
  for (const p of paths) {
    const entry = await fs.stat(p);
    if (entry) out.push({ path: p, entry });
  }
  return out;
}

/** Go filepath.Match for one segment: `*`, `?`, `[...]` (with `^`/`!` negation), `\` escapes. */
export function globSegment(seg: string): RegExp {
  let re = '^';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = seg.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let body = seg.slice(i + 1, end);
      if (body.startsWith('^') || body.startsWith('!')) body = '^' + body.slice(1);
      re += '[' + body.replace(/\\/g, '\\\\') + ']';
      i = end;
    } else if (c === '\\' && i + 1 < seg.length) {
      re += seg[i + 1]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      i++;
    } else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(re + '$');
}

/** Tar (ustar magic at 257), gzip, bzip2 or xz by their first bytes. */
async function isArchive(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(262);
    const { bytesRead } = await fh.read(buf, 0, 262, 0);
    const b = buf.subarray(0, bytesRead);
    if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return true;
    if (b.length >= 3 && b.subarray(0, 3).toString('latin1') === 'BZh') return true;
    if (b.length >= 6 && b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return true;
    return b.length >= 262 && b.subarray(257, 262).toString('latin1') === 'ustar';
  } finally {
    await fh.close();
  }
}
