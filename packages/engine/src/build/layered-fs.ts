import { lstat, readdir, readlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { posix } from 'node:path';
import { InvalidArgumentError } from '@berth/image-format';

/** An entry of a read-only tree: where its bytes are on the host, and its metadata. */
export interface TreeEntry {
  /** Host path holding this entry (in the topmost layer that has it). */
  hostPath: string;
  stat: Stats;
}

/**
 * A read-only file tree: the build context, or an image mounted read-only. Given several
 * directories (topmost first) it merges them as overlayfs shows layers (a 0/0 character
 * device is a whiteout; opaque directories are not honoured, so the builder mounts images
 * instead). Paths are absolute within the tree; symlinks met on the way are resolved inside
 * the tree, never to the host.
 */
export class LayeredFs {
  /** `dirs` topmost first. */
  constructor(readonly dirs: string[]) {}

  /** The entry itself (a final symlink is not followed), or undefined. */
  async lstat(path: string): Promise<TreeEntry | undefined> {
    const resolved = await this.resolveParent(path);
    if (!resolved) return undefined;
    return this.find(resolved);
  }

  /** Follows a final symlink too. */
  async stat(path: string): Promise<TreeEntry | undefined> {
    let p = normalize(path);
    for (let hops = 0; hops < 40; hops++) {
      const e = await this.lstat(p);
      if (!e || !e.stat.isSymbolicLink()) return e;
      const target = await readlink(e.hostPath);
      p = normalize(target.startsWith('/') ? target : posix.join(posix.dirname(p), target));
    }
    throw new InvalidArgumentError(`too many levels of symbolic links: ${path}`);
  }

  /** Names in a directory, merged over the layers, whiteouts removed; sorted. */
  async readdir(path: string): Promise<string[]> {
    const resolved = await this.resolveParent(path);
    if (resolved === undefined) return [];
    const seen = new Set<string>();
    const hidden = new Set<string>();
    for (const dir of this.dirs) {
      const host = posix.join(dir, resolved);
      const st = await lstat(host).catch(() => undefined);
      if (!st) continue;
      if (!st.isDirectory()) break;
      for (const name of await readdir(host)) {
        if (seen.has(name) || hidden.has(name)) continue;
        const child = await lstat(posix.join(host, name)).catch(() => undefined);
        if (child && isWhiteout(child)) hidden.add(name);
        else seen.add(name);
      }
    }
    return [...seen].sort();
  }

  private async find(path: string): Promise<TreeEntry | undefined> {
    for (const dir of this.dirs) {
      const host = path === '/' ? dir : posix.join(dir, path);
      const st = await lstat(host).catch(() => undefined);
      if (!st) continue;
      if (isWhiteout(st)) return undefined;
      return { hostPath: host, stat: st };
    }
    return undefined;
  }

  /** The path with every parent component's symlinks resolved inside the tree. */
  private async resolveParent(path: string): Promise<string | undefined> {
    const parts = normalize(path).split('/').filter(Boolean);
    let cur = '/';
    let hops = 0;
    while (parts.length > 1) {
      const next = posix.join(cur, parts.shift()!);
      const e = await this.find(next);
      if (!e) return undefined;
      if (e.stat.isSymbolicLink()) {
        if (++hops > 40) throw new InvalidArgumentError(`too many levels of symbolic links: ${path}`);
        const target = await readlink(e.hostPath);
        const base = normalize(target.startsWith('/') ? target : posix.join(cur, target));
        parts.unshift(...base.split('/').filter(Boolean));
        cur = '/';
        continue;
      }
      cur = next;
    }
    return parts.length ? posix.join(cur, parts[0]!) : cur;
  }
}

function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/** An absolute, clean path that cannot climb above `/`. */
export function normalize(path: string): string {
  return posix.normalize('/' + path).replace(/\/+$/, '') || '/';
}
