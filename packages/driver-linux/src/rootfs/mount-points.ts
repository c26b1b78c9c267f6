import { lstat, mkdir, stat, writeFile } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { posix } from 'node:path';
import { InvalidArgumentError } from '@berth/image-format';
import type { MountSpec } from '@berth/runtime';
import { resolveInRoot } from '@berth/layer-store';

const HINT = 'Are you trying to mount a directory onto a file (or vice-versa)? Check if the specified host path exists and is the expected type';

/** The runtime's own mounts: what lies under them is not in the rootfs. */
const RUNTIME_MOUNTS = ['/proc', '/sys', '/dev'];

/**
 * Makes the mount point of each bind (and volume) in the rootfs before the runtime runs:
 * an empty file for a file source (`-v /host/app.conf:/etc/app.conf`), a directory for a
 * directory, with missing parents, as root (a user-namespaced runtime could not). A
 * source whose kind differs from what the image has at the destination, or a destination
 * below a file, is refused here with a message that says so; the runtime would only
 * answer "not a directory".
 */
export async function makeBindMountPoints(rootfs: string, mounts: readonly MountSpec[]): Promise<void> {
  const destinations = mounts.map((m) => posix.normalize(m.destination));
  for (const m of mounts) {
    if (m.type === 'tmpfs' || !m.source) continue;
    const dest = posix.normalize(m.destination);
    // below another mount the path is in that mount, not in the rootfs: the runtime sees to it
    const under = (d: string): boolean => d !== dest && (d === '/' || dest.startsWith(`${d}/`));
    if (RUNTIME_MOUNTS.some(under) || destinations.some(under)) continue;
    const src = await sourceStat(m.source);
    const isDir = src.isDirectory();
    const target = await resolveInRoot(rootfs, dest);
    const parts = posix.relative(rootfs, target).split('/').filter((p) => p !== '');
    // a link in the image into /proc, /sys or /dev (/etc/mtab): the runtime's mounts are there
    if (RUNTIME_MOUNTS.some((d) => parts[0] === d.slice(1))) continue;
    if (parts.length === 0) throw new InvalidArgumentError(`cannot mount "${m.source}" on "${dest}": the destination is the container's root`);
    for (let i = 0; i < parts.length; i++) {
      const path = posix.join(rootfs, ...parts.slice(0, i + 1));
      const inContainer = `/${parts.slice(0, i + 1).join('/')}`;
      const st = await lstat(path).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      });
      if (!st) {
        await mkdir(posix.dirname(target), { recursive: true, mode: 0o755 });
        if (isDir) await mkdir(target, { mode: 0o755 });
        else await writeFile(target, '', { flag: 'wx', mode: 0o755 });
        break;
      }
      const last = i === parts.length - 1;
      if (!last && !st.isDirectory()) {
        throw new InvalidArgumentError(`cannot mount "${m.source}" on "${dest}": ${inContainer} is not a directory in the container. ${HINT}`);
      }
      if (last && st.isDirectory() !== isDir) {
        // worded without "is a directory": the docker CLI reads that as exit status 126
        const [from, onto] = isDir ? ['directory', 'file'] : ['file', 'directory'];
        throw new InvalidArgumentError(`cannot mount ${from} "${m.source}" onto ${onto} "${dest}" of the container. ${HINT}`);
      }
    }
  }
}

async function sourceStat(source: string): Promise<Stats> {
  try {
    return await stat(source);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new InvalidArgumentError(`invalid mount config for type "bind": bind source path does not exist: ${source}`);
    }
    throw err;
  }
}
