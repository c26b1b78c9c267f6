import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBusyboxRootfs } from '@berth/fixtures';
import type { RootfsSpec } from '@berth/runtime';

/** A temp dir for one test file: state dir + busybox rootfs factory. */
export async function makeSandbox(tag: string) {
  const base = await mkdtemp(join(tmpdir(), `berth-dl-${tag}-`));
  // user-namespaced containers run as a mapped uid that must traverse to the rootfs
  await chmod(base, 0o755);
  let n = 0;
  return {
    base,
    stateDir: join(base, 'state'),
    async rootfs(): Promise<RootfsSpec> {
      const dir = join(base, `rootfs-${n++}`);
      await buildBusyboxRootfs(dir);
      return { path: dir };
    },
    async cleanup(): Promise<void> {
      await rm(base, { recursive: true, force: true });
    },
  };
}
