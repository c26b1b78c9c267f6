import { closeSync, mkdirSync, openSync } from 'node:fs';
import { readFile, unlink } from 'node:fs/promises';
import { BerthError } from '@berth/image-format';
import { runCommand } from './run-command.js';
import { createNetnsDirect, umountDirect } from '../process/run-program.js';

/*
 * Named network namespaces kept as nsfs bind mounts on files in a directory of our
 * choosing. `ip netns add` only knows /run/netns, so the namespace is made with
 * util-linux `unshare --net=<file>`, which creates it and bind-mounts it on the file
 * before its child exits: the namespace lives as long as the mount does.
 */

/** The mount points currently in this mount namespace (decoded from /proc/self/mountinfo). */
async function mountPoints(): Promise<Map<string, string>> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const points = new Map<string, string>();
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const sep = fields.indexOf('-');
    const point = fields[4];
    const fsType = sep >= 0 ? fields[sep + 1] : undefined;
    if (point === undefined || fsType === undefined) continue;
    points.set(point.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))), fsType);
  }
  return points;
}

/** True when `path` is a live network namespace mount. */
export async function isNetnsMounted(path: string): Promise<boolean> {
  return (await mountPoints()).get(path) === 'nsfs';
}

/**
 * Creates a new network namespace pinned at `path` (its directory is created). With
 * `loopbackUp`, `ip link set lo up` runs as unshare's child, inside the new namespace:
 * one process instead of a second one (or the CNI loopback plugin) entering it.
 */
export async function createNetns(path: string, options: { loopbackUp?: boolean } = {}): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf('/')) || '/';
  // synchronous: an empty file in a directory made once, microseconds, where the thread
  // pool's round trips cost a millisecond of every container start
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  // a new file is the usual case; only a leftover one costs a look at the mount table
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o444);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    if (await isNetnsMounted(path)) throw new BerthError('Conflict', `network namespace ${path} already exists`);
    fd = openSync(path, 'w', 0o444);
  }
  closeSync(fd);
  if (options.loopbackUp) {
    try {
      if (await createNetnsDirect(path)) return;
    } catch (e) {
      if (await isNetnsMounted(path)) await runCommand('umount', [path]);
      await unlink(path).catch(() => undefined);
      throw e;
    }
  }
  const r = await runCommand('unshare', [`--net=${path}`, ...(options.loopbackUp ? ['ip', 'link', 'set', 'dev', 'lo', 'up'] : ['true'])]);
  if (r.code !== 0) {
    // The mount may exist when only the child failed.
    if (await isNetnsMounted(path)) await runCommand('umount', [path]);
    await unlink(path).catch(() => undefined);
    throw new BerthError('Internal', `cannot create network namespace ${path}: ${r.stderr.trim()}`);
  }
  // A bounded wait isn't needed: unshare mounts before its child runs.
}

/** Unmounts and removes a namespace file; a missing or unmounted file is fine (idempotent). */
export async function removeNetns(path: string): Promise<void> {
  // A file can carry stacked mounts (a crash between two creates); bounded loop.
  for (let i = 0; i < 4 && (await isNetnsMounted(path)); i++) {
    const direct = await umountDirect(path, false);
    if (direct === '') continue;
    if (direct !== undefined) {
      const lazy = await umountDirect(path, true);
      if (lazy !== '') throw new BerthError('Internal', `cannot unmount network namespace ${path}: ${lazy}`);
      continue;
    }
    const r = await runCommand('umount', [path]);
    if (r.code !== 0) {
      const lazy = await runCommand('umount', ['-l', path]);
      if (lazy.code !== 0) throw new BerthError('Internal', `cannot unmount network namespace ${path}: ${lazy.stderr.trim()}`);
    }
  }
  await unlink(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw new BerthError('Internal', `cannot remove ${path}: ${e.message}`, { cause: e });
  });
}
