import { lstat, readlink } from 'node:fs/promises';
import { posix } from 'node:path';

const MAX_LINKS = 40;

/**
 * Resolves `path` inside `root` as if `root` were `/`: symlinks (absolute or relative)
 * are followed but can never leave the root, `..` stops at the root. Returns the host
 * path; components that do not exist are appended as they are.
 */
export async function resolveInRoot(root: string, path: string): Promise<string> {
  const pending = path.split('/').filter((c) => c !== '' && c !== '.');
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const host = posix.join(root, ...resolved, part);
    let st;
    try {
      st = await lstat(host);
    } catch {
      resolved.push(part, ...pending);
      break;
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS) throw new Error(`too many symlinks resolving ${path}`);
      const target = await readlink(host);
      if (target.startsWith('/')) resolved.length = 0;
      pending.unshift(...target.split('/').filter((c) => c !== '' && c !== '.'));
      continue;
    }
    resolved.push(part);
  }
  return posix.join(root, ...resolved);
}
