/**
 * `docker export` of a Windows container: its whole C:\ as one plain tar, paths relative
 * to C:\ (the layers' `Files/` prefix stripped; `Hives/` and `UtilityVM/` are not files
 * of the container). The tree is the union of the container's changes (an HcsExportLayer
 * export, its tombstones hiding what they delete) over its image's layer folders' `Files\`,
 * topmost first: a `.wh.` entry of a layer hides that path in the layers below it.
 * Modes are what moby's archive gives files on Windows (0777: Go reports 0666/0777 and
 * chmodTarEntry adds the x bits). dockerd itself refuses to export Windows containers;
 * Berth gives the files.
 */
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import tar from 'tar-stream';

const WHITEOUT = '.wh.';

interface TreeEntry {
  abs: string;
  dir: boolean;
}

/** Is `rel` or a folder above it in `hidden`? */
function isHidden(hidden: Set<string>, rel: string): boolean {
  for (let p = rel; p; p = p.slice(0, Math.max(0, p.lastIndexOf('/')))) if (hidden.has(p)) return true;
  return false;
}

/** The union of `roots` (topmost first), `deleted` hiding paths of every root. */
export async function mergedTree(roots: readonly string[], deleted: readonly string[]): Promise<Map<string, TreeEntry>> {
  const chosen = new Map<string, TreeEntry>();
  const hidden = new Set(deleted);
  for (const root of roots) {
    // a layer's whiteouts hide what is below it, not its own entries
    const whiteouts: string[] = [];
    const visit = async (dir: string, prefix: string): Promise<void> => {
      for (const d of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
        const rel = prefix ? `${prefix}/${d.name}` : d.name;
        // an alternate data stream (`file:stream`) is part of its file, not a file of the tree
        if (d.name.includes(':')) continue;
        if (d.name.startsWith(WHITEOUT)) {
          whiteouts.push(prefix ? `${prefix}/${d.name.slice(WHITEOUT.length)}` : d.name.slice(WHITEOUT.length));
          continue;
        }
        if (isHidden(hidden, rel)) continue;
        if (!chosen.has(rel)) chosen.set(rel, { abs: join(dir, d.name), dir: d.isDirectory() });
        if (d.isDirectory()) await visit(join(dir, d.name), rel);
      }
    };
    await visit(root, '');
    for (const w of whiteouts) hidden.add(w);
  }
  return chosen;
}

/**
 * The merged tree as a tar, streamed file by file: `prepare` gives the roots (making the
 * container's export first), `cleanup` runs once every file was read or the tar failed or
 * was closed early.
 */
export function treeTar(prepare: () => Promise<{ roots: string[]; deleted: string[] }>, cleanup: () => Promise<void>): Readable {
  const pack = tar.pack();
  const out = new PassThrough();
  pack.on('error', (err) => out.destroy(err));
  pack.pipe(out);
  out.on('close', () => pack.destroy());
  void (async () => {
    try {
      const { roots, deleted } = await prepare();
      const tree = await mergedTree(roots, deleted);
      for (const rel of [...tree.keys()].sort()) {
        const e = tree.get(rel)!;
        const st = await lstat(e.abs);
        await new Promise<void>((resolve, reject) => {
          const header = { name: rel, mtime: st.mtime, mode: 0o777, uid: 0, gid: 0 };
          const done = (err?: Error | null) => (err ? reject(err) : resolve());
          if (st.isSymbolicLink()) {
            void readlink(e.abs).then((linkname) => pack.entry({ ...header, type: 'symlink', linkname }, done), reject);
            return;
          }
          const entry = pack.entry(e.dir ? { ...header, type: 'directory' } : { ...header, type: 'file', size: st.size }, done);
          if (e.dir) return;
          const src = createReadStream(e.abs);
          src.on('error', (err) => entry.destroy(err));
          src.pipe(entry);
        });
      }
      pack.finalize();
    } catch (err) {
      out.destroy(err as Error);
    } finally {
      await cleanup().catch(() => undefined);
    }
  })();
  return out;
}
