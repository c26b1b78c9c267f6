import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { FileContentStore, LayerChainUnpacker, OverlaySnapshotter, UnsafeLayerError } from '@berth/layer-store';
import { buildLayer } from '@berth/layer-store/testsuite';
import type { Descriptor } from '@berth/image-format';
import { ApplyingSink } from './applying-sink.js';

let dir: string;
let content: FileContentStore;
let snapshotter: OverlaySnapshotter;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-sink-'));
  content = await FileContentStore.open(dir);
  snapshotter = await OverlaySnapshotter.open(dir, { db: content.db });
});
afterEach(async () => {
  snapshotter.close();
  content.close();
  await rm(dir, { recursive: true, force: true });
});

/** A blob delivered in small pieces, as a download. */
function download(blob: Buffer): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < blob.length; i += 16 * 1024) parts.push(blob.subarray(i, i + 16 * 1024));
  return Readable.from(parts, { objectMode: false });
}

it('stores the blob and applies it from the same stream; a refused layer still downloads, and commit refuses it', async () => {
  const random = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7919) % 251));
  const good = buildLayer([{ name: 'a', content: random(3 << 20) }, { name: 'b', content: 'b' }]);
  const bad = buildLayer([{ name: '../escape', content: 'x' }, { name: 'big', content: random(3 << 20) }]);
  const unpacker = new LayerChainUnpacker(content, snapshotter, { concurrency: 2 });
  const sink = new ApplyingSink(content, unpacker);
  const descs: Descriptor[] = [good, bad].map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.blob.length }));
  for (const d of descs) sink.mediaTypes.set(d.digest, d.mediaType);
  await Promise.all([good, bad].map((l) => sink.write(`ref-${l.digest}`, { digest: l.digest, size: l.blob.length }, download(l.blob))));
  expect(await content.has(good.digest)).toBe(true);
  expect(await content.has(bad.digest)).toBe(true);
  const first = await unpacker.commit(descs.slice(0, 1), [good.diffId]);
  expect(first[0]!.applied).toBe(true);
  await expect(unpacker.commit(descs, [good.diffId, bad.diffId])).rejects.toBeInstanceOf(UnsafeLayerError);
  expect((await snapshotter.walk()).map((s) => s.kind)).toEqual(['committed']);
});
