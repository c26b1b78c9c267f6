import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { chmod, chown, link, mkdir, mkdtemp, readdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildBigImageLayout } from '@berth/fixtures';
import { DigestMismatchError, type Descriptor, type Digest } from '@berth/image-format';
import { FileContentStore } from '../content/file-store.js';
import { diskUsage } from '../snapshot/base.js';
import { mountAll, unmount } from '../snapshot/mount.js';
import { NativeSnapshotter } from '../snapshot/native.js';
import { OverlaySnapshotter } from '../snapshot/overlay.js';
import type { Mount, Snapshotter } from '../snapshot/snapshotter.js';
import { buildLayer, type TestEntry } from '../testsuite/layers.js';
import { describeTree } from '../testsuite/tree.js';
import { setXattr } from '../archive/xattr.js';
import { createDiff } from './commit.js';
import { CONTENT_SIZE_LABEL, layerRecord, unpackLayer } from './unpack.js';

let work: string;
let store: FileContentStore;
const mounted: string[] = [];

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-layer-'));
  store = await FileContentStore.open(join(work, 'root'));
});
afterEach(async () => {
  for (const m of mounted.splice(0).reverse()) await unmount(m);
  store.close();
  await rm(work, { recursive: true, force: true });
});

async function mountAt(mounts: Mount[]): Promise<string> {
  const target = await mkdtemp(join(work, 'mnt-'));
  await mountAll(mounts, target);
  mounted.push(target);
  return target;
}
async function umountAt(target: string): Promise<void> {
  await unmount(target);
  mounted.splice(mounted.indexOf(target), 1);
}

async function ingestLayer(entries: TestEntry[]): Promise<{ desc: Descriptor; diffId: Digest }> {
  const l = buildLayer(entries);
  await store.ingest(`layer-${l.digest}`, { digest: l.digest, size: l.blob.length }, l.blob);
  return { desc: { mediaType: l.mediaType, digest: l.digest, size: l.blob.length }, diffId: l.diffId };
}

async function tarNames(desc: Descriptor): Promise<[string, string][]> {
  const ex = tar.extract();
  const src = (await store.read(desc.digest)).pipe(createGunzip());
  src.pipe(ex);
  const names: [string, string][] = [];
  for await (const e of ex) {
    names.push([e.header.name, e.header.type ?? '']);
    e.resume();
  }
  return names;
}

const BASE: TestEntry[] = [
  { name: 'etc/', type: 'dir' },
  { name: 'etc/conf.d/', type: 'dir' },
  { name: 'etc/conf.d/a', content: 'a1' },
  { name: 'etc/conf.d/b', content: 'b1' },
  { name: 'opt/', type: 'dir' },
  { name: 'opt/app/', type: 'dir', mode: 0o750 },
  { name: 'opt/app/x', content: 'x' },
  { name: 'opt/app/y', content: 'y' },
  { name: 'usr/', type: 'dir' },
  { name: 'usr/bin/', type: 'dir' },
  { name: 'usr/bin/tool', content: '#!tool', mode: 0o755 },
  { name: 'data/', type: 'dir', uid: 1000, gid: 1000 },
  { name: 'data/file', content: 'data', uid: 1000, gid: 1000 },
  { name: 'h1', content: 'linked' },
  { name: 'h2', type: 'link', linkname: 'h1' },
];

for (const [name, open] of [
  ['overlay', (root: string) => OverlaySnapshotter.open(root)],
  ['native', (root: string) => NativeSnapshotter.open(root)],
] as const) {
  describe(`layers on the ${name} snapshotter`, () => {
    let sn: Snapshotter;
    beforeEach(async () => {
      sn = await open(join(work, 'root'));
    });
    afterEach(() => sn.close());

    it('diff of adds, edits, deletes, an opaque dir, a symlink and a hardlink round-trips onto the parent', async () => {
      const base = await ingestLayer(BASE);
      const l1 = await unpackLayer(store, sn, base.desc, undefined, { diffId: base.diffId });
      expect(l1.applied).toBe(true);
      const mnt = await mountAt(await sn.prepare('ctr', l1.chainId));
      await mkdir(join(mnt, 'new'));
      await writeFile(join(mnt, 'new/file.txt'), 'brand new');
      await chown(join(mnt, 'new/file.txt'), 123, 456);
      await chmod(join(mnt, 'new/file.txt'), 0o640);
      await setXattr(join(mnt, 'new/file.txt'), 'user.k', Buffer.from([1, 2, 3]));
      await writeFile(join(mnt, 'etc/conf.d/a'), 'a2 edited');
      await rm(join(mnt, 'etc/conf.d/b'));
      await rm(join(mnt, 'data'), { recursive: true });
      await rm(join(mnt, 'opt/app'), { recursive: true });
      await mkdir(join(mnt, 'opt/app'));
      await writeFile(join(mnt, 'opt/app/z'), 'z');
      await symlink('../etc/conf.d/a', join(mnt, 'new/link'));
      await link(join(mnt, 'new/file.txt'), join(mnt, 'new/hard.txt'));
      await chmod(join(mnt, 'usr/bin/tool'), 0o4755);
      const expected = describeTree(mnt, { mtimes: true });
      await umountAt(mnt);

      const diff = await createDiff(store, sn, 'ctr');
      expect((await store.info(diff.descriptor.digest)).size).toBe(diff.descriptor.size);
      // Deterministic: the same tree gives the same bytes.
      const again = await createDiff(store, sn, 'ctr');
      expect(again.descriptor.digest).toBe(diff.descriptor.digest);
      expect(again.diffId).toBe(diff.diffId);

      const names = Object.fromEntries(await tarNames(diff.descriptor));
      expect(names['etc/conf.d/.wh.b']).toBe('file');
      expect(names['.wh.data']).toBe('file');
      expect(names['etc/conf.d/a']).toBe('file');
      expect(names['new/link']).toBe('symlink');
      expect(names['new/hard.txt'] === 'link' || names['new/file.txt'] === 'link').toBe(true);
      if (name === 'overlay') expect(names['opt/app/.wh..wh..opq']).toBe('file');
      else expect(names['opt/app/.wh.x']).toBe('file');
      expect(names['h1']).toBeUndefined();

      const l2 = await unpackLayer(store, sn, diff.descriptor, l1.chainId, { diffId: diff.diffId });
      // The committed layer records Docker's size: new/file.txt 9, a 9, z 1, usr/bin/tool 6 (its
      // mode changed, so it is in the diff whole) and new/link's target 15; the hard link, dirs
      // and whiteouts count 0.
      expect((await sn.stat(l2.chainId)).labels[CONTENT_SIZE_LABEL]).toBe('40');
      const view = await mountAt(await sn.view('check', l2.chainId));
      expect(describeTree(view, { mtimes: true })).toEqual(expected);
      await umountAt(view);
    });

    it('leaves excluded paths out, and a directory in the change set only for them', async () => {
      const base = await ingestLayer(BASE);
      const l1 = await unpackLayer(store, sn, base.desc, undefined, { diffId: base.diffId });
      const mnt = await mountAt(await sn.prepare('mountpoints', l1.chainId));
      await writeFile(join(mnt, 'etc/hostname'), 'h\n');
      await writeFile(join(mnt, 'etc/conf.d/a'), 'a1');
      await umountAt(mnt);
      // Only the mount point and the file rewritten with the same bytes (still a change).
      const names = (await tarNames((await createDiff(store, sn, 'mountpoints', { exclude: ['etc/hostname'] })).descriptor)).map(([n]) => n.replace(/\/$/, ''));
      expect(names).not.toContain('etc/hostname');
      expect(names).toContain('etc/conf.d/a');
      expect(names).toContain('etc');

      const only = await mountAt(await sn.prepare('only-mountpoint', l1.chainId));
      await writeFile(join(only, 'etc/hostname'), 'h\n');
      await umountAt(only);
      const empty = await createDiff(store, sn, 'only-mountpoint', { exclude: ['etc/hostname'] });
      expect(await tarNames(empty.descriptor)).toEqual([]);
      // The empty tar's diffID, which Docker leaves out of a commit.
      expect(empty.diffId).toBe('sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef');
    });

    it('clampMtime writes later times as the given one and keeps earlier ones (SOURCE_DATE_EPOCH)', async () => {
      const base = await ingestLayer(BASE);
      const l1 = await unpackLayer(store, sn, base.desc, undefined, { diffId: base.diffId });
      const mnt = await mountAt(await sn.prepare('clamped', l1.chainId));
      await writeFile(join(mnt, 'etc/new'), 'now\n');
      await writeFile(join(mnt, 'etc/old'), 'old\n');
      await utimes(join(mnt, 'etc/old'), 1_000_000_000, 1_000_000_000);
      await umountAt(mnt);
      const diff = await createDiff(store, sn, 'clamped', { clampMtime: 1_700_000_000 });
      const ex = tar.extract();
      (await store.read(diff.descriptor.digest)).pipe(createGunzip()).pipe(ex);
      const mtimes: Record<string, number> = {};
      for await (const e of ex) {
        mtimes[e.header.name.replace(/\/$/, '')] = Math.floor(e.header.mtime!.getTime() / 1000);
        e.resume();
      }
      expect(mtimes).toEqual({ etc: 1_700_000_000, 'etc/new': 1_700_000_000, 'etc/old': 1_000_000_000 });
    });

    it('on top of the big image: diff of an upper dir round-trips (modes, owners, xattrs, content)', async () => {
      const big = await buildBigImageLayout(undefined, { scale: 0.01 });
      let parent: Digest | undefined;
      for (const l of big.layers) {
        await store.ingest(`l-${l.digest}`, { digest: l.digest as Digest, size: l.size }, createReadStream(l.path));
        parent = (await unpackLayer(store, sn, { mediaType: l.mediaType, digest: l.digest as Digest, size: l.size }, parent, { diffId: l.diffId as Digest })).chainId;
      }
      const mnt = await mountAt(await sn.prepare('ctr-big', parent));
      const files = execFileSync('find', ['usr', '-type', 'f'], { cwd: mnt, encoding: 'utf8' }).split('\n').filter(Boolean).sort();
      const dirs = execFileSync('find', ['usr', '-mindepth', '2', '-type', 'd'], { cwd: mnt, encoding: 'utf8' }).split('\n').filter(Boolean).sort();
      expect(files.length).toBeGreaterThan(10);
      await writeFile(join(mnt, files[0]!), 'edited on top of the image');
      await chown(join(mnt, files[1]!), 42, 43);
      await setXattr(join(mnt, files[1]!), 'user.changed', Buffer.from('yes'));
      await rm(join(mnt, files[2]!));
      await rm(join(mnt, dirs[dirs.length - 1]!), { recursive: true });
      await rm(join(mnt, big.special.opaqueDir), { recursive: true });
      await mkdir(join(mnt, big.special.opaqueDir));
      await writeFile(join(mnt, big.special.opaqueDir, 'fresh'), 'fresh');
      await mkdir(join(mnt, 'added'), { mode: 0o2750 });
      await writeFile(join(mnt, 'added/file'), 'new');
      await symlink('/' + files[3]!, join(mnt, 'added/abs-link'));
      await link(join(mnt, 'added/file'), join(mnt, 'added/hard'));
      const expected = describeTree(mnt, { mtimes: true });
      await umountAt(mnt);
      const diff = await createDiff(store, sn, 'ctr-big');
      const names = (await tarNames(diff.descriptor)).map(([n]) => n);
      expect(names).toContain(files[2]!.replace(/[^/]+$/, '.wh.') + files[2]!.split('/').pop());
      const top = await unpackLayer(store, sn, diff.descriptor, parent, { diffId: diff.diffId });
      const view = await mountAt(await sn.view('check-big', top.chainId));
      expect(describeTree(view, { mtimes: true })).toEqual(expected);
      await umountAt(view);
    });

    it('a symlink from an earlier layer is never written through by a later one', async () => {
      const outside = join(work, 'outside');
      await mkdir(outside);
      await writeFile(join(outside, 'marker'), 'untouched');
      const l1 = await ingestLayer([{ name: 'escape', type: 'symlink', linkname: outside }]);
      const through = await ingestLayer([{ name: 'escape/marker', content: 'pwned' }, { name: 'escape/new', content: 'pwned' }]);
      const replacing = await ingestLayer([{ name: 'escape/', type: 'dir' }, { name: 'escape/marker', content: 'mine' }]);
      const c1 = await unpackLayer(store, sn, l1.desc, undefined);
      if (name === 'native') {
        // The copied tree holds the symlink: an entry below it is refused.
        await expect(unpackLayer(store, sn, through.desc, c1.chainId)).rejects.toThrow(/parent "escape" is a symlink/);
      } else {
        // The upper dir starts empty: a real directory shadows the lower symlink.
        const c2 = await unpackLayer(store, sn, through.desc, c1.chainId);
        const view = await mountAt(await sn.view('v-through', c2.chainId));
        expect(describeTree(view)['escape']?.type).toBe('dir');
        await umountAt(view);
      }
      // A directory entry replaces the symlink (tar semantics), on both snapshotters.
      const c3 = await unpackLayer(store, sn, replacing.desc, c1.chainId);
      const view = await mountAt(await sn.view('v-replacing', c3.chainId));
      expect(describeTree(view)['escape/marker']?.type).toBe('file');
      await umountAt(view);
      expect(await readFile(join(outside, 'marker'), 'utf8')).toBe('untouched');
      expect(await readdir(outside)).toEqual(['marker']);
    });

    it('unpackLayer is idempotent and leaves no snapshot behind when it fails', async () => {
      const base = await ingestLayer(BASE);
      const first = await unpackLayer(store, sn, base.desc, undefined);
      expect(first.diffId).toBe(base.diffId);
      const again = await unpackLayer(store, sn, base.desc, undefined);
      expect(again).toEqual({ ...first, applied: false });
      const before = (await sn.walk()).map((s) => s.key);
      const other = await ingestLayer([{ name: 'f', content: 'f' }]);
      await expect(unpackLayer(store, sn, other.desc, first.chainId, { diffId: base.diffId })).rejects.toBeInstanceOf(DigestMismatchError);
      const hostile = await ingestLayer([{ name: 'evil', type: 'symlink', linkname: '/' }, { name: 'evil/x', content: 'x' }]);
      await expect(unpackLayer(store, sn, hostile.desc, first.chainId)).rejects.toThrow(/symlink/);
      expect((await sn.walk()).map((s) => s.key)).toEqual(before);
    });
  });
}

describe('sharing', () => {
  it('two containers over one image share the lower snapshots on disk', async () => {
    const sn = await OverlaySnapshotter.open(join(work, 'root'));
    try {
      const big = await buildBigImageLayout(undefined, { scale: 0.02 });
      let parent: Digest | undefined;
      for (const l of big.layers) {
        await store.ingest(`l-${l.digest}`, { digest: l.digest as Digest, size: l.size }, Readable.from(execFileSync('cat', [l.path], { maxBuffer: 1 << 28 })));
        parent = (await unpackLayer(store, sn, { mediaType: l.mediaType, digest: l.digest as Digest, size: l.size }, parent, { diffId: l.diffId as Digest })).chainId;
      }
      const imageUsage = await diskUsage(sn.dir);
      const m1 = await sn.prepare('ctr1', parent);
      const m2 = await sn.prepare('ctr2', parent);
      const lower = (m: Mount[]) => m[0]!.options.find((o) => o.startsWith('lowerdir='));
      expect(lower(m1)).toBe(lower(m2));
      const d1 = await mountAt(m1);
      const d2 = await mountAt(m2);
      await writeFile(join(d1, 'only-in-1'), 'one');
      await writeFile(join(d2, 'only-in-2'), 'two');
      expect(execFileSync('ls', [d1], { encoding: 'utf8' })).not.toContain('only-in-2');
      await umountAt(d1);
      await umountAt(d2);
      const u1 = await sn.usage('ctr1');
      const u2 = await sn.usage('ctr2');
      expect(u1.size).toBeLessThan(64 * 1024);
      expect(u2.size).toBeLessThan(64 * 1024);
      const total = await diskUsage(sn.dir);
      // Two containers cost their own few files, not another copy of the image.
      expect(total.size - imageUsage.size).toBeLessThan(256 * 1024);
      expect(imageUsage.size).toBeGreaterThan(big.totalUncompressedSize * 0.5);
    } finally {
      sn.close();
    }
  });
});
