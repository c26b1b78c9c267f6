import { access, constants } from 'node:fs/promises';
import { NotFoundError } from '@berth/image-format';

/** Where `--init`'s binary appears in the container, and how it runs the process. */
export const INIT_PATH_IN_CONTAINER = '/sbin/docker-init';

/**
 * Static init binaries (the image may have no libc) that reap zombies and forward signals
 * to the process they run after `--`: Docker's docker-init (tini), podman's catatonit.
 */
const CANDIDATES = ['/usr/bin/docker-init', '/usr/libexec/docker/docker-init', '/usr/bin/catatonit', '/usr/libexec/podman/catatonit', '/usr/bin/tini-static'];

/** The host's init binary for `--init`: daemon.json `init-path`, else the first installed candidate. */
export async function findInitBinary(configured?: string): Promise<string> {
  for (const path of configured ? [configured] : CANDIDATES) {
    try {
      await access(path, constants.X_OK);
      return path;
    } catch {
      // next
    }
  }
  throw new NotFoundError(
    configured
      ? `init binary ${configured} (daemon.json init-path) is not an executable file`
      : `--init needs a static init binary (docker-init from docker.io, or catatonit): none of ${CANDIDATES.join(', ')} is installed`,
  );
}
