import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileContentStore } from '../content/file-store.js';
import { mountAll, unmount } from '../snapshot/mount.js';
import { NativeSnapshotter } from '../snapshot/native.js';
import { OverlaySnapshotter } from '../snapshot/overlay.js';
import type { Snapshotter } from '../snapshot/snapshotter.js';
import { setXattr } from '../archive/xattr.js';
import { createDiff } from './commit.js';
import { countingMainThreadSpawns } from '../testsuite/main-thread-spawns.js';

let work: string;
let store: FileContentStore;

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-commit-loop-'));
  store = await FileContentStore.open(join(work, 'root'));
});
afterEach(async () => {
  store.close();
  await rm(work, { recursive: true, force: true });
});

for (const [name, open] of [
  ['overlay', (root: string) => OverlaySnapshotter.open(root)],
  ['native', (root: string) => NativeSnapshotter.open(root)],
] as const) {
  describe(`createDiff on the ${name} snapshotter`, () => {
    let sn: Snapshotter;
    beforeEach(async () => {
      sn = await open(join(work, 'root'));
    });
    afterEach(() => sn.close());

    it("forks nothing on the caller's thread (getfattr runs from a helper thread) and keeps the xattrs", async () => {
      const target = await mkdtemp(join(work, 'mnt-'));
      await mountAll(await sn.prepare('step', undefined), target);
      try {
        await mkdir(join(target, 'app'));
        for (let i = 0; i < 50; i++) await writeFile(join(target, 'app', `f${i}`), `file ${i}\n`);
        await setXattr(join(target, 'app/f7'), 'user.berth', Buffer.from('seven'));
      } finally {
        await unmount(target);
      }
      // the loop keeps turning while the diff is made
      let ticks = 0;
      const timer = setInterval(() => ticks++, 1);
      const { result: diff, spawned } = await countingMainThreadSpawns(() => createDiff(store, sn, 'step'));
      clearInterval(timer);
      expect(spawned).toEqual([]);
      expect(ticks).toBeGreaterThan(0);
      const xattrs: Record<string, Record<string, string>> = {};
      const ex = tar.extract();
      (await store.read(diff.descriptor.digest)).pipe(createGunzip()).pipe(ex);
      for await (const e of ex) {
        const pax = (e.header as { pax?: Record<string, string> }).pax ?? {};
        const x = Object.entries(pax).filter(([k]) => k.startsWith('SCHILY.xattr.'));
        if (x.length) xattrs[e.header.name] = Object.fromEntries(x);
        e.resume();
      }
      expect(xattrs).toEqual({ 'app/f7': { 'SCHILY.xattr.user.berth': 'seven' } });
    });
  });
}
