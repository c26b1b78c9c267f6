import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DigestMismatchError, type Descriptor, type Digest } from '@berth/image-format';
import { FileContentStore } from '../content/file-store.js';
import { mountAll, unmount } from '../snapshot/mount.js';
import { NativeSnapshotter } from '../snapshot/native.js';
import { OverlaySnapshotter } from '../snapshot/overlay.js';
import type { Snapshotter } from '../snapshot/snapshotter.js';
import { buildLayer, type TestEntry } from '../testsuite/layers.js';
import { describeTree } from '../testsuite/tree.js';
import { UnsafeLayerError } from '../archive/apply.js';
import { LayerChainUnpacker, unpackLayersConcurrently } from './unpack-chain.js';
import { layerRecord, unpackLayer } from './unpack.js';

let work: string;
const open: { close(): void }[] = [];
const mounted: string[] = [];

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-chain-'));
});
afterEach(async () => {
  for (const m of mounted.splice(0).reverse()) await unmount(m);
  for (const o of open.splice(0).reverse()) o.close();
  await rm(work, { recursive: true, force: true });
});

/** Five layers that depend on each other: overwrites, whiteouts, an opaque dir, links. */
const CHAIN: TestEntry[][] = [
  [
    { name: 'etc/', type: 'dir' },
    { name: 'etc/passwd', content: 'root:x:0:0\n' },
    { name: 'opt/', type: 'dir', mode: 0o750, uid: 7, gid: 8 },
    { name: 'opt/a', content: 'a' },
    { name: 'opt/b', content: 'b' },
    { name: 'bin/', type: 'dir' },
    { name: 'bin/tool', content: 'v1', mode: 0o4755 },
  ],
  [
    { name: 'etc/passwd', content: 'root:x:0:0\nuser:x:1000:1000\n' },
    { name: 'bin/.wh.tool' },
    { name: 'bin/link', type: 'symlink', linkname: '../etc/passwd' },
  ],
  [
    { name: 'opt/', type: 'dir', mode: 0o755 },
    { name: 'opt/.wh..wh..opq' },
    { name: 'opt/c', content: 'c' },
    { name: 'opt/hard', type: 'link', linkname: 'opt/c' },
  ],
  [{ name: 'bin/tool', content: 'v2', mode: 0o755 }, { name: '.wh.etc' }],
  [{ name: 'etc/', type: 'dir' }, { name: 'etc/hosts', content: '127.0.0.1 localhost\n' }],
];

async function openPair(name: 'overlay' | 'native', dir: string): Promise<{ store: FileContentStore; sn: Snapshotter }> {
  const root = join(work, dir);
  const store = await FileContentStore.open(root);
  const sn = name === 'overlay' ? await OverlaySnapshotter.open(root, { db: store.db }) : await NativeSnapshotter.open(root, { db: store.db });
  open.push(store, sn);
  return { store, sn };
}

async function ingest(store: FileContentStore, layers: TestEntry[][]): Promise<{ descs: Descriptor[]; diffIds: Digest[]; blobs: Buffer[] }> {
  const descs: Descriptor[] = [];
  const diffIds: Digest[] = [];
  const blobs: Buffer[] = [];
  for (const entries of layers) {
    const l = buildLayer(entries);
    if (!(await store.has(l.digest))) await store.ingest(`layer-${l.digest}`, { digest: l.digest, size: l.blob.length }, l.blob);
    descs.push({ mediaType: l.mediaType, digest: l.digest, size: l.blob.length });
    diffIds.push(l.diffId);
    blobs.push(l.blob);
  }
  return { descs, diffIds, blobs };
}

async function tree(sn: Snapshotter, chainId: string): Promise<ReturnType<typeof describeTree>> {
  const key = `view-${Math.random().toString(36).slice(2)}`;
  const mounts = await sn.view(key, chainId);
  const target = await mkdtemp(join(work, 'mnt-'));
  await mountAll(mounts, target);
  mounted.push(target);
  try {
    return describeTree(target, { mtimes: true });
  } finally {
    await unmount(target);
    mounted.splice(mounted.indexOf(target), 1);
    await sn.remove(key);
  }
}

async function sequential(store: FileContentStore, sn: Snapshotter, descs: Descriptor[]): Promise<string> {
  let parent: Digest | undefined;
  for (const d of descs) parent = (await unpackLayer(store, sn, d, parent)).chainId;
  return parent!;
}

describe.each(['overlay', 'native'] as const)('unpackLayersConcurrently on %s', (name) => {
  it('gives the same chain, trees and ls_layers rows as applying the layers in order', async () => {
    const a = await openPair(name, 'a');
    const b = await openPair(name, 'b');
    const ia = await ingest(a.store, CHAIN);
    const ib = await ingest(b.store, CHAIN);
    const done: number[] = [];
    const res = await unpackLayersConcurrently(a.store, a.sn, ia.descs, { concurrency: 3, diffIds: ia.diffIds, onLayerDone: (i) => done.push(i) });
    expect(done).toEqual([0, 1, 2, 3, 4]);
    expect(res.every((r) => r.applied)).toBe(true);
    const top = await sequential(b.store, b.sn, ib.descs);
    expect(res.at(-1)!.chainId).toBe(top);
    expect(await tree(a.sn, top)).toEqual(await tree(b.sn, top));
    for (const [i, r] of res.entries()) {
      expect(layerRecord(a.store, r.chainId)).toEqual(layerRecord(b.store, r.chainId) && { ...layerRecord(b.store, r.chainId)!, size: ia.descs[i]!.size });
      expect((await a.sn.stat(r.chainId)).parent).toBe(i === 0 ? undefined : res[i - 1]!.chainId);
    }
    // Nothing transient is left, and a second run skips everything.
    expect((await a.sn.walk()).map((s) => s.kind)).toEqual(['committed', 'committed', 'committed', 'committed', 'committed']);
    const again = await unpackLayersConcurrently(a.store, a.sn, ia.descs, { diffIds: ia.diffIds });
    expect(again.map((r) => r.chainId)).toEqual(res.map((r) => r.chainId));
    expect(again.some((r) => r.applied)).toBe(false);
  });

  it('a failure in layer k commits the layers below it and leaves no half snapshot', async () => {
    const { store, sn } = await openPair(name, 'a');
    const hostile: TestEntry[] = [{ name: 'ok', content: 'x' }, { name: '../escape', content: 'bad' }];
    const { descs } = await ingest(store, [CHAIN[0]!, CHAIN[1]!, hostile, CHAIN[3]!, CHAIN[4]!]);
    await expect(unpackLayersConcurrently(store, sn, descs, { concurrency: 5 })).rejects.toBeInstanceOf(UnsafeLayerError);
    const left = await sn.walk();
    expect(left.map((s) => s.kind)).toEqual(['committed', 'committed']);
    const dirs = (await readdir(join(work, 'a', 'snapshots', name))).filter((n) => /^\d+$/.test(n));
    expect(dirs).toHaveLength(2);
  });

  it('a diffID that is not the config\'s fails and leaves no half snapshot', async () => {
    const { store, sn } = await openPair(name, 'a');
    const { descs, diffIds } = await ingest(store, CHAIN.slice(0, 3));
    const wrong = [diffIds[0]!, diffIds[2]!, diffIds[1]!];
    await expect(unpackLayersConcurrently(store, sn, descs, { diffIds: wrong })).rejects.toBeInstanceOf(DigestMismatchError);
    expect((await sn.walk()).map((s) => s.kind)).toEqual(['committed']);
  });
});

describe('LayerChainUnpacker.beginStream (overlay)', () => {
  it('applies from a stream as it arrives; a broken stream is redone from the content store', async () => {
    const a = await openPair('overlay', 'a');
    const { descs, diffIds, blobs } = await ingest(a.store, CHAIN);
    const u = new LayerChainUnpacker(a.store, a.sn, { concurrency: 8 });
    for (const [i, d] of descs.entries()) {
      const s = u.beginStream(d);
      expect(s).toBeDefined();
      const blob = blobs[i]!;
      if (i === 2) {
        // A download that fails half-way: the caller destroys the stream.
        s!.write(blob.subarray(0, blob.length >> 1));
        s!.destroy(new Error('connection reset'));
      } else s!.end(blob);
    }
    expect(u.beginStream(descs[0]!)).toBeUndefined();
    const res = await u.commit(descs, diffIds);
    const b = await openPair('overlay', 'b');
    await ingest(b.store, CHAIN);
    const top = await sequential(b.store, b.sn, descs);
    expect(res.at(-1)!.chainId).toBe(top);
    expect(await tree(a.sn, top)).toEqual(await tree(b.sn, top));
    expect((await a.sn.walk()).every((s) => s.kind === 'committed')).toBe(true);
  });

  it('beginStream declines when every apply slot is taken; discard removes what was applied ahead', async () => {
    const { store, sn } = await openPair('overlay', 'a');
    const { descs, blobs } = await ingest(store, CHAIN.slice(0, 2));
    const u = new LayerChainUnpacker(store, sn, { concurrency: 1 });
    const s = u.beginStream(descs[0]!)!;
    expect(u.beginStream(descs[1]!)).toBeUndefined();
    s.end(blobs[0]);
    u.begin(descs[1]!);
    await new Promise((r) => setTimeout(r, 200));
    await u.discard();
    expect(await sn.walk()).toEqual([]);
  });

  it('native cannot apply ahead: beginStream declines and commit unpacks in order', async () => {
    const { store, sn } = await openPair('native', 'a');
    const { descs, diffIds } = await ingest(store, CHAIN);
    const u = new LayerChainUnpacker(store, sn);
    expect(u.beginStream(descs[0]!)).toBeUndefined();
    const res = await u.commit(descs, diffIds);
    expect(res).toHaveLength(5);
  });
});
