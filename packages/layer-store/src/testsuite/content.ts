import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { digestOf, DigestMismatchError, NotFoundError, type Digest } from '@berth/image-format';
import { BlobExistsError, type ContentStore } from '../content/store.js';

export interface ContentStoreHarness {
  store: ContentStore;
  /** Opens the same store again, as after a restart. */
  reopen(): Promise<ContentStore>;
  cleanup(): Promise<void>;
}

async function readAll(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function chunked(data: Buffer, size = 7919): Readable {
  let off = 0;
  return new Readable({
    read() {
      if (off >= data.length) return this.push(null);
      this.push(data.subarray(off, off + size));
      off += size;
    },
  });
}

/**
 * The content store contract (modelled on containerd's content testsuite): every
 * ContentStore implementation runs it.
 */
export function contentStoreSuite(name: string, open: () => Promise<ContentStoreHarness>): void {
  describe(`content store contract: ${name}`, () => {
    let h: ContentStoreHarness;
    beforeEach(async () => {
      h = await open();
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it('writer: ingests, then reads back, stats and lists the blob', async () => {
      const data = randomBytes(300_000);
      const digest = digestOf(data);
      const w = await h.store.writer('writer-ref', { expected: digest, total: data.length });
      expect(w.offset).toBe(0);
      await w.append(chunked(data));
      expect(await h.store.has(digest)).toBe(false);
      expect(await w.commit(data.length, digest)).toBe(digest);
      expect(await h.store.has(digest)).toBe(true);
      expect((await h.store.info(digest)).size).toBe(data.length);
      expect(Buffer.compare(await readAll(await h.store.read(digest, { verify: true })), data)).toBe(0);
      const listed: Digest[] = [];
      for await (const b of h.store.list()) listed.push(b.digest);
      expect(listed).toContain(digest);
      expect(await h.store.ingestStatus('writer-ref')).toBeUndefined();
    });

    it('writer: a digest mismatch throws, and leaves neither blob nor ingest', async () => {
      const data = randomBytes(10_000);
      const wrong = digestOf('something else');
      await expect(h.store.ingest('bad', { digest: wrong, size: data.length }, chunked(data))).rejects.toBeInstanceOf(DigestMismatchError);
      expect(await h.store.has(wrong)).toBe(false);
      expect(await h.store.has(digestOf(data))).toBe(false);
      expect(await h.store.ingestStatus('bad')).toBeUndefined();
      await expect(h.store.ingest('short', { digest: digestOf(data), size: data.length + 1 }, chunked(data))).rejects.toBeInstanceOf(DigestMismatchError);
      await expect(h.store.ingest('long', { digest: digestOf(data), size: data.length - 1 }, chunked(data))).rejects.toBeInstanceOf(DigestMismatchError);
      expect(await h.store.has(digestOf(data))).toBe(false);
    });

    it('resume: a broken ingest continues from the bytes on disk, across a restart', async () => {
      const data = randomBytes(1_000_000);
      const digest = digestOf(data);
      const w = await h.store.writer('resume-ref', { expected: digest, total: data.length });
      await w.append(data.subarray(0, 400_000));
      await w.close();
      const store = await h.reopen();
      expect(await store.ingestedBytes('resume-ref')).toBe(400_000);
      const st = await store.ingestStatus('resume-ref');
      expect(st).toMatchObject({ ref: 'resume-ref', offset: 400_000, total: data.length, expected: digest });
      expect(await store.has(digest)).toBe(false);
      // Through the sink shape: append the rest; the whole digest is verified.
      await store.write('resume-ref', { digest, size: data.length }, chunked(data.subarray(400_000)), { offset: 400_000 });
      expect(Buffer.compare(await readAll(await store.read(digest, { verify: true })), data)).toBe(0);
      expect(await store.ingestStatus('resume-ref')).toBeUndefined();
    });

    it('resume: a resumed prefix that was corrupted fails verification', async () => {
      const data = randomBytes(50_000);
      const digest = digestOf(data);
      const w = await h.store.writer('corrupt-ref', { expected: digest, total: data.length });
      const bad = Buffer.from(data.subarray(0, 20_000));
      bad[5] = bad[5]! ^ 0xff;
      await w.append(bad);
      await w.close();
      await expect(h.store.write('corrupt-ref', { digest, size: data.length }, chunked(data.subarray(20_000)), { offset: 20_000 })).rejects.toBeInstanceOf(DigestMismatchError);
      expect(await h.store.has(digest)).toBe(false);
      // Starting again from 0 replaces the bad prefix.
      await h.store.write('corrupt-ref', { digest, size: data.length }, chunked(data), { offset: 0 });
      expect(await h.store.has(digest)).toBe(true);
    });

    it('commit-exists: a writer for stored content is refused; ingest and write are no-ops', async () => {
      const data = randomBytes(5000);
      const digest = digestOf(data);
      await h.store.ingest('a', { digest, size: data.length }, data);
      await expect(h.store.writer('b', { expected: digest })).rejects.toBeInstanceOf(BlobExistsError);
      let pulled = 0;
      const src = new Readable({ read() { pulled++; this.push(data); this.push(null); } });
      await h.store.write('c', { digest, size: data.length }, src);
      expect(pulled).toBe(0);
      await h.store.ingest('d', { digest, size: data.length }, chunked(data));
      // A writer without an expected digest finds out at commit.
      const w = await h.store.writer('e');
      await w.append(data);
      await expect(w.commit()).rejects.toBeInstanceOf(BlobExistsError);
      expect(await h.store.ingestStatus('e')).toBeUndefined();
    });

    it('concurrent ingests of one digest write it once', async () => {
      const data = randomBytes(2_000_000);
      const digest = digestOf(data);
      let reads = 0;
      const counting = () => {
        let off = 0;
        return new Readable({
          read() {
            reads++;
            if (off >= data.length) return this.push(null);
            this.push(data.subarray(off, off + 65536));
            off += 65536;
          },
        });
      };
      await Promise.all([
        h.store.ingest('c1', { digest, size: data.length }, counting()),
        h.store.ingest('c2', { digest, size: data.length }, counting()),
        h.store.write('c3', { digest, size: data.length }, counting()),
      ]);
      // One source read to its end (chunks + the end call); the others not at all.
      expect(reads).toBe(Math.ceil(data.length / 65536) + 1);
      expect(Buffer.compare(await readAll(await h.store.read(digest)), data)).toBe(0);
      expect(await h.store.listIngests()).toEqual([]);
    });

    it('labels: set at ingest, updated, removed with an empty value', async () => {
      const data = randomBytes(100);
      const digest = digestOf(data);
      await h.store.ingest('l', { digest, size: data.length }, data, { 'berth.test/a': '1' });
      expect((await h.store.info(digest)).labels).toEqual({ 'berth.test/a': '1' });
      expect(await h.store.setLabels(digest, { 'berth.test/b': '2', 'berth.test/a': '3' })).toEqual({ 'berth.test/a': '3', 'berth.test/b': '2' });
      expect(await h.store.setLabels(digest, { 'berth.test/a': '' })).toEqual({ 'berth.test/b': '2' });
      const reopened = await h.reopen();
      expect((await reopened.info(digest)).labels).toEqual({ 'berth.test/b': '2' });
      await expect(h.store.setLabels(digestOf('missing'), { a: 'b' })).rejects.toBeInstanceOf(NotFoundError);
    });

    it('read with verify detects a blob corrupted on disk; delete removes it', async () => {
      const data = randomBytes(4096);
      const digest = digestOf(data);
      await h.store.ingest('v', { digest, size: data.length }, data);
      const path = h.store.path(digest);
      const onDisk = await readFile(path);
      onDisk[0] = onDisk[0]! ^ 1;
      await writeFile(path, onDisk);
      await expect(readAll(await h.store.read(digest, { verify: true }))).rejects.toBeInstanceOf(DigestMismatchError);
      await h.store.delete(digest);
      expect(await h.store.has(digest)).toBe(false);
      await expect(h.store.info(digest)).rejects.toBeInstanceOf(NotFoundError);
      await expect(h.store.read(digest)).rejects.toBeInstanceOf(NotFoundError);
      await expect(h.store.delete(digest)).rejects.toBeInstanceOf(NotFoundError);
    });

    it('abort deletes an ingest; listIngests shows open ones', async () => {
      const w = await h.store.writer('x1', { total: 10 });
      await w.append(Buffer.from('hello'));
      await w.close();
      expect((await h.store.listIngests()).map((i) => [i.ref, i.offset])).toEqual([['x1', 5]]);
      await h.store.abortIngest('x1');
      expect(await h.store.listIngests()).toEqual([]);
      await expect(h.store.abortIngest('x1')).rejects.toBeInstanceOf(NotFoundError);
    });
  });
}
