import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Bytes used under `path` (allocated blocks, hardlinks counted once); 0 when missing. */
export async function diskUsage(path: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const walk = async (p: string): Promise<void> => {
    let st;
    try {
      st = await lstat(p);
    } catch {
      return;
    }
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) return;
    seen.add(key);
    total += st.blocks * 512;
    if (st.isDirectory()) {
      let names: string[] = [];
      try {
        names = await readdir(p);
      } catch {
        return;
      }
      for (const n of names) await walk(join(p, n));
    }
  };
  await walk(path);
  return total;
}

/** Copies a directory's contents (owners, modes, xattrs, links kept) into an existing dir. */
export async function copyTree(from: string, to: string): Promise<void> {
  await run('cp', ['-a', '--', `${from}/.`, to]);
}
