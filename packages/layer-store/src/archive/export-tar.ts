/**
 * `docker export` as dockerd 20.10 writes it (pkg/archive's TarWithOptions over the
 * container's root), which answered for the same container:
 * - names relative to the root without `./` (`d/f`, directories `d/`), the root itself left out;
 * - depth-first, each directory's children in byte order of their names;
 * - ustar headers, the mode with the file type bits (040755, 0100644, 0120777, 020644...);
 * - uname/gname: the daemon host's names for the ids (its /etc/passwd and /etc/group), empty
 *   where the host has none; no atime/ctime records; of the xattrs only security.capability;
 * - a second name of an inode is a hard link to the first; sockets are left out.
 * Streams: one directory listing and one file chunk at a time, plus the hard-linked inodes seen.
 */
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { headerFor, tarStream, type LayerEntry } from './diff.js';
import { readXattrTree } from './xattr.js';

const TYPE_BITS = { file: 0o100000, link: 0o100000, dir: 0o040000, symlink: 0o120000, char: 0o020000, block: 0o060000, fifo: 0o010000 } as const;
const byName = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** id -> name from a passwd or group file of the host (a missing file names nobody). */
async function hostNames(file: string): Promise<Map<number, string>> {
  const names = new Map<number, string>();
  const text = await readFile(file, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const [name, , id] = line.split(':');
    // the first line for an id wins, as getpwuid answers
    if (name && id && /^\d+$/.test(id) && !names.has(Number(id))) names.set(Number(id), name);
  }
  return names;
}

async function* exportEntries(root: string): AsyncGenerator<LayerEntry> {
  const [users, groups, caps] = await Promise.all([hostNames('/etc/passwd'), hostNames('/etc/group'), readXattrTree(root, true, '^security\\.capability$')]);
  const links = new Map<string, string>();
  async function* walk(rel: string): AsyncGenerator<LayerEntry> {
    for (const name of (await readdir(rel === '' ? root : join(root, rel))).sort(byName)) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const abs = join(root, childRel);
      const st = await lstat(abs);
      if (st.isSocket()) continue;
      const entry = await headerFor(childRel, abs, st, caps.get(abs), links);
      const h = entry.header;
      h.mode = (st.mode & 0o7777) | TYPE_BITS[h.type];
      const uname = users.get(h.uid);
      const gname = groups.get(h.gid);
      if (uname) h.uname = uname;
      if (gname) h.gname = gname;
      yield entry;
      if (st.isDirectory()) yield* walk(childRel);
    }
  }
  yield* walk('');
}

/** The export tar of the tree at `root` (a mounted container root). */
export function exportTar(root: string): Readable {
  return Readable.from(tarStream(exportEntries(root)), { objectMode: false });
}
