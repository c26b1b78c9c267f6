/*
 * What the ext4 tests share: temp directories, e2fsprogs' reading of an image (e2fsck -fn
 * must find nothing to fix; debugfs reads back), and the kernel's own reading of it
 * through a read-only loop mount.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, rm, rmdir, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';

/** A temp directory maker whose directories are removed after the file's tests. */
export function tempDirs(prefix: string): () => Promise<string> {
  const dirs: string[] = [];
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
  return async () => {
    const d = await mkdtemp(join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
}

/** The file system part of a VHD (the footer cut off), checked read-only by e2fsck. */
export async function fsck(vhd: string): Promise<string> {
  const img = `${vhd}.img`;
  execFileSync('cp', ['--sparse=always', vhd, img]);
  await truncate(img, (await stat(vhd)).size - 512);
  const r = spawnSync('e2fsck', ['-fn', img], { encoding: 'utf8' });
  expect(r.status, r.stdout + r.stderr).toBe(0);
  return img;
}

/** A debugfs request's output, as bytes (`cat` of a binary file). */
export const debugfsBytes = (img: string, cmd: string): Buffer => execFileSync('debugfs', ['-R', cmd, img], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 30 });
export const debugfs = (img: string, cmd: string): string => debugfsBytes(img, cmd).toString();

/**
 * Runs `fn` with the image mounted read-only by the kernel's ext4 in a private temp
 * directory: its own loop device, unmounted and detached whatever happens.
 */
export async function withKernelMount<T>(img: string, fn: (dir: string) => Promise<T> | T): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-ext4-mnt-'));
  let dev: string | undefined;
  let mounted = false;
  try {
    dev = execFileSync('losetup', ['--find', '--show', '--read-only', img], { encoding: 'utf8' }).trim();
    execFileSync('mount', ['-t', 'ext4', '-o', 'ro', dev, dir]);
    mounted = true;
    return await fn(dir);
  } finally {
    if (mounted) execFileSync('umount', [dir]);
    if (dev) execFileSync('losetup', ['-d', dev]);
    await rmdir(dir);
  }
}
