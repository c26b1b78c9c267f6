import { mkdtemp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, InvalidArgumentError, NotFoundError } from '@berth/image-format';
import { mountAll, readMountInfo, unmount } from '../snapshot/mount.js';
import type { Mount, Snapshotter } from '../snapshot/snapshotter.js';
import { FileContentStore } from '../content/file-store.js';
import { createDiff } from '../layer/commit.js';
import tar from 'tar-stream';

/**
 * The snapshotter contract (modelled on containerd's snapshots testsuite), run against
 * real mounts: every Snapshotter implementation runs it as root.
 */
export function snapshotterSuite(name: string, open: (root: string) => Promise<Snapshotter>): void {
  describe(`snapshotter contract: ${name}`, () => {
    let work: string;
    let sn: Snapshotter;
    const mounted: string[] = [];

    beforeEach(async () => {
      work = await mkdtemp(join(tmpdir(), 'berth-sn-'));
      sn = await open(join(work, 'root'));
    });
    afterEach(async () => {
      for (const m of mounted.splice(0).reverse()) await unmount(m);
      sn.close();
      await rm(work, { recursive: true, force: true });
    });

    async function withMount<T>(mounts: Mount[], fn: (dir: string) => Promise<T>): Promise<T> {
      const target = await mkdtemp(join(work, 'mnt-'));
      await mountAll(mounts, target);
      mounted.push(target);
      try {
        return await fn(target);
      } finally {
        await unmount(target);
        mounted.splice(mounted.indexOf(target), 1);
      }
    }

    /** prepare + write files + commit, returning the committed name. */
    async function layer(key: string, parent: string | undefined, files: Record<string, string | null>): Promise<string> {
      const mounts = await sn.prepare(`${key}-active`, parent);
      await withMount(mounts, async (dir) => {
        for (const [p, content] of Object.entries(files)) {
          if (content === null) await rm(join(dir, p), { recursive: true });
          else {
            await mkdir(join(dir, p, '..'), { recursive: true });
            await writeFile(join(dir, p), content);
          }
        }
      });
      await sn.commit(key, `${key}-active`);
      return key;
    }

    it('basic: prepare, write, commit, prepare on top, view', async () => {
      const base = await layer('base', undefined, { 'a.txt': 'A', 'dir/b.txt': 'B' });
      const mounts = await sn.prepare('top-active', base);
      await withMount(mounts, async (dir) => {
        expect(await readFile(join(dir, 'a.txt'), 'utf8')).toBe('A');
        expect(await readFile(join(dir, 'dir/b.txt'), 'utf8')).toBe('B');
        await writeFile(join(dir, 'c.txt'), 'C');
        await writeFile(join(dir, 'a.txt'), 'A2');
      });
      await sn.commit('top', 'top-active');
      await withMount(await sn.view('v', 'top'), async (dir) => {
        expect((await readdir(dir)).sort()).toEqual(['a.txt', 'c.txt', 'dir']);
        expect(await readFile(join(dir, 'a.txt'), 'utf8')).toBe('A2');
        await expect(writeFile(join(dir, 'x'), 'x')).rejects.toMatchObject({ code: 'EROFS' });
      });
      // A view with no parent, and a committed base on its own, mount (read-only, empty / as committed).
      await withMount(await sn.view('empty-view'), async (dir) => {
        expect(await readdir(dir)).toEqual([]);
      });
      await withMount(await sn.mounts(base), async (dir) => {
        expect((await readdir(dir)).sort()).toEqual(['a.txt', 'dir']);
        await expect(writeFile(join(dir, 'x'), 'x')).rejects.toMatchObject({ code: 'EROFS' });
      });
      await expect(sn.prepare('top-active2', 'missing')).rejects.toBeInstanceOf(NotFoundError);
      await expect(sn.prepare('v', 'top')).rejects.toBeInstanceOf(ConflictError);
      await sn.prepare('open', 'top');
      await expect(sn.prepare('child-of-active', 'open')).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(sn.commit('top', 'open')).rejects.toBeInstanceOf(ConflictError);
      await expect(sn.commit('x', 'v')).rejects.toBeInstanceOf(InvalidArgumentError);
    });

    it('stat: kind, parent and labels of active, committed and view snapshots', async () => {
      await sn.prepare('a', undefined, { labels: { l: '1' } });
      expect(await sn.stat('a')).toMatchObject({ key: 'a', kind: 'active', labels: { l: '1' } });
      expect((await sn.stat('a')).parent).toBeUndefined();
      await sn.commit('c', 'a', { labels: { m: '2' } });
      expect(await sn.stat('c')).toMatchObject({ key: 'c', kind: 'committed', labels: { l: '1', m: '2' } });
      await expect(sn.stat('a')).rejects.toBeInstanceOf(NotFoundError);
      await sn.view('v', 'c');
      expect(await sn.stat('v')).toMatchObject({ key: 'v', kind: 'view', parent: 'c' });
      await sn.prepare('b', 'c');
      expect(await sn.stat('b')).toMatchObject({ kind: 'active', parent: 'c' });
      expect(await sn.mounts('b')).toEqual(await sn.mounts('b'));
    });

    it('transitivity: a change in a child never shows in its parent or a sibling', async () => {
      const base = await layer('base', undefined, { 'shared.txt': 'base' });
      await layer('left', base, { 'shared.txt': 'left', 'left.txt': 'L' });
      await layer('right', base, { 'right.txt': 'R' });
      await withMount(await sn.view('vb', base), async (d) => {
        expect((await readdir(d)).sort()).toEqual(['shared.txt']);
        expect(await readFile(join(d, 'shared.txt'), 'utf8')).toBe('base');
      });
      await withMount(await sn.view('vr', 'right'), async (d) => {
        expect((await readdir(d)).sort()).toEqual(['right.txt', 'shared.txt']);
        expect(await readFile(join(d, 'shared.txt'), 'utf8')).toBe('base');
      });
      await layer('leftleft', 'left', { 'deep.txt': 'D' });
      await withMount(await sn.view('vll', 'leftleft'), async (d) => {
        expect((await readdir(d)).sort()).toEqual(['deep.txt', 'left.txt', 'shared.txt']);
        expect(await readFile(join(d, 'shared.txt'), 'utf8')).toBe('left');
      });
    });

    it('remove: refuses a parent, removes leaves, unmounts what a crashed user left mounted', async () => {
      await layer('base', undefined, { f: '1' });
      const mounts = await sn.prepare('c1', 'base');
      await expect(sn.remove('base')).rejects.toBeInstanceOf(ConflictError);
      // Left mounted, as by a process killed before it could unmount.
      const target = await mkdtemp(join(work, 'crashed-'));
      await mountAll(mounts, target);
      mounted.push(target);
      await sn.remove('c1');
      mounted.pop();
      const stillMounted = (await readMountInfo()).some((m) => m.mountPoint === target);
      expect(stillMounted).toBe(false);
      await sn.remove('base');
      expect(await sn.walk()).toEqual([]);
      await expect(sn.remove('base')).rejects.toBeInstanceOf(NotFoundError);
    });

    it('walk: lists every snapshot with its parent, parents first', async () => {
      await layer('l1', undefined, { a: 'a' });
      await layer('l2', 'l1', { b: 'b' });
      await sn.prepare('act', 'l2');
      await sn.view('vw', 'l1');
      const all = await sn.walk();
      expect(all.map((s) => [s.key, s.parent ?? null, s.kind])).toEqual([
        ['l1', null, 'committed'],
        ['l2', 'l1', 'committed'],
        ['act', 'l2', 'active'],
        ['vw', 'l1', 'view'],
      ]);
    });

    it('deleted-files-in-child: a file and a directory removed in a child stay in the parent', async () => {
      await layer('base', undefined, { 'keep.txt': 'k', 'gone.txt': 'g', 'gonedir/x.txt': 'x' });
      await layer('child', 'base', { 'gone.txt': null, gonedir: null });
      await withMount(await sn.view('vc', 'child'), async (d) => {
        expect((await readdir(d)).sort()).toEqual(['keep.txt']);
      });
      await withMount(await sn.view('vb', 'base'), async (d) => {
        expect((await readdir(d)).sort()).toEqual(['gone.txt', 'gonedir', 'keep.txt']);
      });
      // A file re-created in a grandchild shows again.
      await layer('grandchild', 'child', { 'gone.txt': 'again' });
      await withMount(await sn.view('vg', 'grandchild'), async (d) => {
        expect(await readFile(join(d, 'gone.txt'), 'utf8')).toBe('again');
      });
    });

    it('diff: an active snapshot\'s layer holds what was written and a whiteout for what was deleted', async () => {
      const base = await layer('base', undefined, { 'keep.txt': 'k', 'gone.txt': 'g' });
      await withMount(await sn.prepare('work', base), async (dir) => {
        await writeFile(join(dir, 'new.txt'), 'new');
        await rm(join(dir, 'gone.txt'));
      });
      // the layer as a commit stores it (whatever the kind of source: upper dir, trees, or the snapshotter's own tar)
      const store = await FileContentStore.open(join(work, 'content'));
      try {
        const { descriptor } = await createDiff(store, sn, 'work', { compression: 'none' });
        const ex = tar.extract();
        (await store.read(descriptor.digest)).pipe(ex);
        const names: string[] = [];
        for await (const e of ex) {
          names.push(e.header.name);
          e.resume();
        }
        expect(names.some((n) => n.endsWith('new.txt'))).toBe(true);
        expect(names.some((n) => n.endsWith('.wh.gone.txt'))).toBe(true);
        expect(names.some((n) => n.endsWith('keep.txt'))).toBe(false);
      } finally {
        store.close();
      }
      // optional capabilities are typed as the contract says
      expect(['undefined', 'boolean']).toContain(typeof sn.readsRunningChanges);
      expect(['undefined', 'function']).toContain(typeof sn.exportTree);
    });

    it('128-layer mount: a deep chain still mounts and shows every layer', async () => {
      let parent: string | undefined;
      for (let i = 0; i < 128; i++) {
        const key = `sha256:${i.toString(16).padStart(64, '0')}`;
        const active = `extract-${i}-${key}`;
        await sn.prepare(active, parent);
        const target = await sn.applyTarget(active);
        await writeFile(join(target.dir, `f${i}`), String(i));
        await sn.commit(key, active);
        parent = key;
      }
      const mounts = await sn.prepare('top', parent);
      // With absolute paths the overlay mount data would not fit in one page.
      if (mounts[0]?.type === 'overlay') expect(mounts[0].options.join(',').length).toBeGreaterThan(4096);
      await withMount(mounts, async (d) => {
        const names = await readdir(d);
        expect(names).toHaveLength(128);
        expect(await readFile(join(d, 'f0'), 'utf8')).toBe('0');
        expect(await readFile(join(d, 'f127'), 'utf8')).toBe('127');
      });
    });
  });
}
