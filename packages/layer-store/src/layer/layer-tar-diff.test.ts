// createDiff over a snapshotter that writes its layer tar itself (DiffSource `layer-tar`,
// Windows' HcsExportLayer): the bytes are stored as given, the diffID is their digest,
// and an error of the source fails the diff instead of storing a short layer.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileContentStore } from '../content/file-store.js';
import type { DiffSource, Snapshotter } from '../snapshot/snapshotter.js';
import { createDiff } from './commit.js';

let work: string;
let store: FileContentStore;
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-layertar-'));
  store = await FileContentStore.open(join(work, 'root'));
});
afterEach(async () => {
  store.close();
  await rm(work, { recursive: true, force: true });
});

const snapshotterOf = (source: DiffSource) => ({ diffSource: async () => source }) as unknown as Snapshotter;

describe('createDiff of a layer-tar source', () => {
  it('stores the snapshotter\'s tar byte for byte (gzip and plain), the diffID its sha256', async () => {
    // every byte value, in chunks of odd sizes: bytes stay bytes
    const body = Buffer.concat(Array.from({ length: 40 }, (_, i) => Buffer.alloc(1023 + i, i * 7)));
    const source: DiffSource = { kind: 'layer-tar', tar: () => Readable.from([body.subarray(0, 5), body.subarray(5, 70_000), body.subarray(70_000)]), changes: async () => [] };
    const want = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    const gz = await createDiff(store, snapshotterOf(source), 'c1');
    expect(gz.diffId).toBe(want);
    const chunks: Buffer[] = [];
    for await (const c of (await store.read(gz.descriptor.digest)).pipe(createGunzip())) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(body)).toBe(true);
    const plain = await createDiff(store, snapshotterOf(source), 'c1', { compression: 'none' });
    expect(plain.descriptor.digest).toBe(want);
  });

  it('a source that fails midway fails the diff', async () => {
    const source: DiffSource = {
      kind: 'layer-tar',
      tar: () =>
        Readable.from(
          (async function* () {
            yield Buffer.alloc(4096, 1);
            throw new Error('HcsExportLayer failed');
          })(),
        ),
      changes: async () => [],
    };
    await expect(createDiff(store, snapshotterOf(source), 'c1')).rejects.toThrow(/HcsExportLayer failed/);
  });
});
