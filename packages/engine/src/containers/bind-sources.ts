import { mkdir, stat } from 'node:fs/promises';
import { InvalidArgumentError } from '@berth/image-format';
import type { MountRequest } from '../container-config.js';

/**
 * Docker's rule for a bind's host path, checked at create and again at start:
 * `-v /src:/dst` (and `--mount` with CreateMountpoint) makes a missing source as a
 * directory; a plain `--mount type=bind` refuses it. An existing source is used as it
 * is, file or directory: the runtime makes the matching mount point in the rootfs.
 */
export async function prepareBindSources(requests: readonly MountRequest[], opts: { create: boolean }): Promise<void> {
  for (const m of requests) {
    if (m.type !== 'bind') continue;
    if (await exists(m.source)) continue;
    if (!m.createSource) throw new InvalidArgumentError(`invalid mount config for type "bind": bind source path does not exist: ${m.source}`);
    // Docker makes it when the container starts, not when it is created
    if (opts.create) await mkdir(m.source, { recursive: true, mode: 0o755 });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
