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
