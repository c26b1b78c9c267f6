import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Docker's `GET /containers/{id}/changes` item: Kind 0 modified, 1 added, 2 deleted. */
export interface FilesystemChange {
  Path: string;
  Kind: 0 | 1 | 2;
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Changes recorded in an overlay upper dir against the image's tree at `lower` (a mounted
 * view): whiteouts (0/0 char devices) are deletions, entries the image has are
 * modifications, the rest additions. Sorted by path, as Docker lists them.
 */
export async function overlayChanges(upper: string, lower: string): Promise<FilesystemChange[]> {
  return withoutEngineFiles(await upperChanges(upper, lower));
}

async function upperChanges(upper: string, lower: string): Promise<FilesystemChange[]> {
  const out: FilesystemChange[] = [];
  const walk = async (rel: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(join(upper, rel));
    } catch {
      return;
    }
    for (const name of names.sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = await lstat(join(upper, r));
      if (st.isCharacterDevice() && st.rdev === 0) {
        out.push({ Path: '/' + r, Kind: 2 });
        continue;
      }
      out.push({ Path: '/' + r, Kind: (await exists(join(lower, r))) ? 0 : 1 });
      if (st.isDirectory()) await walk(r);
    }
  };
  await walk('');
  return out;
}

/** Changes between two full trees (native snapshots). */
export async function treeChanges(upper: string, lower: string | undefined): Promise<FilesystemChange[]> {
  return withoutEngineFiles(await fullTreeChanges(upper, lower));
}

async function fullTreeChanges(upper: string, lower: string | undefined): Promise<FilesystemChange[]> {
  const out: FilesystemChange[] = [];
  const walk = async (rel: string): Promise<void> => {
    const u = await readdir(join(upper, rel)).catch(() => [] as string[]);
    const l = lower ? await readdir(join(lower, rel)).catch(() => [] as string[]) : [];
    for (const name of [...new Set([...u, ...l])].sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const us = await lstat(join(upper, r)).catch(() => undefined);
      const ls = lower ? await lstat(join(lower, r)).catch(() => undefined) : undefined;
      if (!us) {
        out.push({ Path: '/' + r, Kind: 2 });
        continue;
      }
      if (!ls) out.push({ Path: '/' + r, Kind: 1 });
      else if (!us.isDirectory() && (us.mtimeMs !== ls.mtimeMs || us.size !== ls.size || us.mode !== ls.mode || us.ino !== ls.ino)) out.push({ Path: '/' + r, Kind: 0 });
      if (us.isDirectory()) await walk(r);
    }
  };
  await walk('');
  return out;
}

/** Files the engine writes into every container; Docker mounts them, so its diff never lists them. */
const ENGINE_FILES = new Set(['/etc/hostname', '/etc/hosts', '/etc/resolv.conf']);

/**
 * Drops the engine's own files and their /etc when nothing else under it changed: Docker
 * creates them in a hidden init layer, so `touch /test` lists only `A /test`.
 */
function withoutEngineFiles(changes: FilesystemChange[]): FilesystemChange[] {
  const rest = changes.filter((c) => !ENGINE_FILES.has(c.Path));
  const etcTouched = rest.some((c) => c.Path.startsWith('/etc/'));
  return etcTouched ? rest : rest.filter((c) => c.Path !== '/etc');
}
