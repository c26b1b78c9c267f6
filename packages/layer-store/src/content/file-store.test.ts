import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { contentStoreSuite } from '../testsuite/content.js';
import { FileContentStore } from './file-store.js';

contentStoreSuite('FileContentStore', async () => {
  const root = await mkdtemp(join(tmpdir(), 'berth-cs-'));
  const opened: FileContentStore[] = [await FileContentStore.open(root)];
  return {
    store: opened[0]!,
    async reopen() {
      const s = await FileContentStore.open(root);
      opened.push(s);
      return s;
    },
    async cleanup() {
      for (const s of opened) s.close();
      await rm(root, { recursive: true, force: true });
    },
  };
});

import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';

describe('FileContentStore after a crash while an ingest began', () => {
  it('opens with an ingest whose meta.json is empty (killed mid-write), and that ref ingests again from the start', async () => {
    const root = await mkdtemp(join(tmpdir(), 'berth-cs-crash-'));
    try {
      const first = await FileContentStore.open(root);
      first.close();
      // what SIGKILL between creating and filling meta.json leaves (seen in the engine's pull-crash test)
      const dir = join(root, 'content', 'ingest', createHash('sha256').update('layer-ref').digest('hex'));
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'meta.json'), '');
      await writeFile(join(dir, 'data'), 'partial');
      const store = await FileContentStore.open(root);
      try {
        expect(await readdir(join(root, 'content', 'ingest'))).not.toContain(dir.split('/').pop());
        const w = await store.writer('layer-ref');
        await w.append(Buffer.from('whole'));
        const digest = `sha256:${createHash('sha256').update('whole').digest('hex')}` as const;
        await w.commit(5, digest);
        expect(await store.has(digest)).toBe(true);
      } finally {
        store.close();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
