import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run, tryRun, sleep } from './proc.js';

export interface ScratchFs {
  /** Mount point: every store of the run (berthd, dockerd, podman, registry) lives under it. */
  dir: string;
  /** What it is, for the report line. */
  kind: string;
  cleanup(): Promise<void>;
}

/**
 * One filesystem for all stores of a run, so berth and its peers write to the same kind
 * of disk. Default: a fresh journaled ext4 on a sparse loop file (the root fs here is
 * ext4 without a journal, whose create-after-delete slowness would skew the pull
 * figures); BENCH_FS=tmpfs uses a tmpfs instead.
 */
export async function mountScratchFs(base: string, sizeGiB = 8): Promise<ScratchFs> {
  const dir = join(base, 'fs');
  await mkdir(dir, { recursive: true });
  if (process.env['BENCH_FS'] === 'tmpfs') {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeGiB}g,mode=0755`, 'tmpfs', dir]);
    return { dir, kind: `tmpfs (${sizeGiB} GiB)`, cleanup: () => unmountTree(dir).then(() => rm(dir, { recursive: true, force: true })) };
  }
  const image = join(base, 'fs.img');
  await run('truncate', ['-s', `${sizeGiB}G`, image]);
  await run('mkfs.ext4', ['-q', '-F', '-O', 'has_journal', image], { timeoutMs: 120_000 });
  await run('mount', ['-o', 'loop', image, dir]);
  return {
    dir,
    kind: `journaled ext4 on a loop file (${sizeGiB} GiB sparse)`,
    async cleanup() {
      await unmountTree(dir);
      await rm(dir, { recursive: true, force: true });
      await rm(image, { force: true });
    },
  };
}

/** Mount points at or below `dir`, deepest first (from /proc/self/mountinfo). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const { stdout } = await run('findmnt', ['-rn', '-o', 'TARGET']);
  return stdout
    .split('\n')
    .map((l) => l.trim().replace(/\\x20/g, ' '))
    .filter((t) => t === dir || t.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/** Unmounts everything at or below `dir` (bounded rounds; lazy as a last resort). */
export async function unmountTree(dir: string): Promise<void> {
  for (let round = 0; round < 5; round++) {
    const mounts = await mountsUnder(dir).catch(() => [] as string[]);
    if (mounts.length === 0) return;
    for (const m of mounts) {
      if (!(await tryRun('umount', [m]))) await tryRun('umount', ['-l', m]);
    }
    await sleep(200);
  }
}
