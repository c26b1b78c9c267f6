/**
 * A container's scratch read back as a Windows layer (what dockerd's windowsfilter driver
 * does for docker diff and commit): HcsExportLayer writes the scratch's changes into a
 * folder in the legacy layer layout (`Files\`, `Hives\`, `tombstones.txt` listing deletes),
 * and that folder becomes
 * - the change list as dockerd on Windows gives it: every file and directory of the
 *   export `C` with its layer path (`Files/app/x.txt`; dockerd cannot tell an add from a
 *   change there), every tombstone `D`;
 * - a Windows layer tar as a pull brings one (FACTS §6): `Files/` and `Hives/` entries with
 *   PAX `MSWINDOWS.fileattr` and `LIBARCHIVE.creationtime`, deletes as `.wh.` entries
 *   (moby's writeTarFromLayer), streamed file by file.
 * With `backup` (HcsApi.backup: BackupRead), every file and directory also carries its
 * security descriptor (`MSWINDOWS.rawsd`) and its alternate data streams (`<path>:s`
 * entries), as go-winio's backuptar writes them (layer-file-streams.ts); without it the
 * tar carries neither (HcsImportLayer then gives files their folder's inherited ACLs).
 */
import { createReadStream } from 'node:fs';
import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import tar from 'tar-stream';
import type { SnapshotChange } from '@berth/layer-store';
import { isStreamName, type BackupFiles } from '@berth/hcs';
import { addWithStreams } from './layer-file-streams.js';

/** Win32 attributes: FILE_ATTRIBUTE_DIRECTORY, FILE_ATTRIBUTE_ARCHIVE. */
const DIRECTORY = 16;
const ARCHIVE = 32;
const TOMBSTONES = 'tombstones.txt';
const TOMBSTONE_HEADER = '\ufeffVersion 1.0';

interface ExportEntry {
  /** The layer path, `/`-separated: `Files/app/x.txt`. */
  name: string;
  abs: string;
  dir: boolean;
}

/** The export's files and directories, parents first, names sorted within a folder. */
async function walk(root: string): Promise<ExportEntry[]> {
  const out: ExportEntry[] = [];
  const visit = async (dir: string, prefix: string): Promise<void> => {
    const names = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const d of names) {
      if (!prefix && d.name === TOMBSTONES) continue;
      // a stream of a file (the simulator keeps them as `file:s`), read with its file
      if (isStreamName(d.name)) continue;
      const name = prefix ? `${prefix}/${d.name}` : d.name;
      out.push({ name, abs: join(dir, d.name), dir: d.isDirectory() });
      if (d.isDirectory()) await visit(join(dir, d.name), name);
    }
  };
  await visit(root, '');
  return out;
}

/** The deletes the export lists, as layer paths (`\Files\a\b` → `Files/a/b`). */
export async function exportTombstones(root: string): Promise<string[]> {
  const text = await readFile(join(root, TOMBSTONES), 'utf8').catch(() => '');
  const lines = text.split(/\r?\n/);
  if (lines[0] !== TOMBSTONE_HEADER && lines[0] !== TOMBSTONE_HEADER.slice(1)) return [];
  return lines
    .slice(1)
    .map((l) => l.replace(/\\/g, '/').replace(/^\/+/, ''))
    .filter((l) => l && !l.split('/').includes('..'));
}

/** `docker diff` of the export, as dockerd on Windows lists it. */
export async function exportChanges(root: string): Promise<SnapshotChange[]> {
  const changed = (await walk(root)).map((e): SnapshotChange => ({ path: e.name, kind: 'modified' }));
  const deleted = (await exportTombstones(root)).map((path): SnapshotChange => ({ path, kind: 'deleted' }));
  return [...changed, ...deleted].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Seconds.fraction, as libarchive writes LIBARCHIVE.creationtime. */
const creationTime = (ms: number): string => (ms / 1000).toFixed(7);

/**
 * The export at `root` as a Windows layer tar, streamed: `exportInto` fills `root` when the
 * tar is first needed, `cleanup` removes it once every file was read or the tar failed or
 * was closed early.
 */
export function exportLayerTar(root: string, exportInto: () => Promise<void>, cleanup: () => Promise<void>, backup?: BackupFiles): Readable {
  const pack = tar.pack();
  const out = new PassThrough();
  pack.on('error', (err) => out.destroy(err));
  pack.pipe(out);
  // a reader that leaves ends the packing (pending entries fail, the folder goes)
  out.on('close', () => pack.destroy());
  const add = (header: Parameters<typeof pack.entry>[0], body?: Readable) =>
    new Promise<void>((resolve, reject) => {
      const entry = pack.entry(header, (err) => (err ? reject(err) : resolve()));
      if (!body) {
        // an empty file (a whiteout) still has a body to end; a directory or link has none
        if (header.type === 'file') entry.end(Buffer.alloc(0));
        return;
      }
      body.on('error', (err) => entry.destroy(err));
      body.pipe(entry);
    });
  void (async () => {
    let failure: Error | undefined;
    try {
      await exportInto();
      for (const e of await walk(root)) {
        const st = await lstat(e.abs);
        const pax = { 'MSWINDOWS.fileattr': String(e.dir ? DIRECTORY : ARCHIVE), 'LIBARCHIVE.creationtime': creationTime(st.birthtimeMs || st.mtimeMs) };
        const header = { name: e.name, mtime: st.mtime, mode: e.dir ? 0o755 : 0o644, uid: 0, gid: 0, pax };
        if (st.isSymbolicLink()) await add({ ...header, type: 'symlink', linkname: await readlink(e.abs) });
        else if (backup) await addWithStreams(add, backup, e.abs, e.dir, st.size, header);
        else if (e.dir) await add({ ...header, type: 'directory' });
        else await add({ ...header, type: 'file', size: st.size }, createReadStream(e.abs));
      }
      for (const path of await exportTombstones(root)) {
        const slash = path.lastIndexOf('/');
        await add({ name: `${path.slice(0, slash + 1)}.wh.${path.slice(slash + 1)}`, type: 'file', size: 0, mode: 0o644, mtime: new Date(0) });
      }
    } catch (err) {
      failure = err as Error;
    }
    // the folder is gone before the reader sees the end, so a caller that waited for it can reuse the name
    await cleanup().catch(() => undefined);
    if (failure) out.destroy(failure);
    else pack.finalize();
  })();
  return out;
}
