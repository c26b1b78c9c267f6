import { lstatSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { posix } from 'node:path';
import { locateInRoot } from '@berth/layer-store';

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
 * the tree, never to the host (by layer-store's in-root resolver over this view).
 */
export class LayeredFs {
  /** `dirs` topmost first. */
  constructor(readonly dirs: string[]) {}

  /** The entry itself (a final symlink is not followed), or undefined. */
  async lstat(path: string): Promise<TreeEntry | undefined> {
    return this.locate(path, false);
  }

  /** Follows a final symlink too. */
  async stat(path: string): Promise<TreeEntry | undefined> {
    return this.locate(path, true);
  }

  /** Through layer-store's in-root resolver, with this merged view as the tree. */
  private locate(path: string, followLast: boolean): TreeEntry | undefined {
    const r = locateInRoot('/', normalize(path), { followLast, hostOf: this.hostOf });
    if (r.missing.length > 0) return undefined;
    if (r.stat) return { hostPath: r.host, stat: r.stat };
    return this.findSync(r.path);
  }

  /** The host path of the topmost layer's entry at `path`, undefined when none has it or a whiteout hides it. */
  private readonly hostOf = (path: string): string | undefined => this.findSync(path)?.hostPath;

  private findSync(path: string): TreeEntry | undefined {
    for (const dir of this.dirs) {
      const host = path === '/' ? dir : posix.join(dir, path);
      let st: Stats;
      try {
        st = lstatSync(host);
      } catch {
        continue;
      }
      if (isWhiteout(st)) return undefined;
      return { hostPath: host, stat: st };
    }
    return undefined;
  }

  /** Names in a directory, merged over the layers, whiteouts removed; sorted. */
  async readdir(path: string): Promise<string[]> {
    const r = locateInRoot('/', normalize(path), { followLast: false, hostOf: this.hostOf });
    if (r.missing.length > 1) return [];
    const resolved = r.path;
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
}

function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/** An absolute, clean path that cannot climb above `/`. */
export function normalize(path: string): string {
  return posix.normalize('/' + path).replace(/\/+$/, '') || '/';
}
