import { lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostileCorpus, outsideState } from '../testsuite/hostile.js';
import { applyLayer } from './apply.js';

// Layer apply, one of the entry points of the shared hostile-archive corpus (the others:
// docker cp and docker build in apps/daemon, berth cp in apps/cli): each case is refused
// or contained, for both whiteout modes.
describe('hostile-archive corpus through layer apply', () => {
  let work: string;
  let outside: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-hostile-'));
    outside = join(work, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'marker'), 'untouched');
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  for (const whiteouts of ['delete', 'overlay'] as const) {
    it(`whiteouts=${whiteouts}: nothing outside the root is written, linked or deleted`, async () => {
      const before = await outsideState(outside);
      const outcomes: string[] = [];
      for (const c of hostileCorpus(outside)) {
        const root = join(work, `root-${whiteouts}-${c.id}`);
        await mkdir(root);
        const verdict = await applyLayer(Readable.from([c.tar]), root, { compression: 'none', whiteouts }).then(
          () => 'contained',
          (err: Error) => `refused: ${err.message}`,
        );
        outcomes.push(`${c.id}: ${verdict}`);
        expect(await outsideState(outside), c.id).toBe(before);
      }
      expect((await readdir(work)).filter((n) => !n.startsWith('root-'))).toEqual(['outside']);
      // Everything that reaches for outside is refused outright under the layer rules.
      const contained = outcomes.filter((o) => o.includes(': contained')).map((o) => o.split(':')[0]);
      expect(contained.sort(), outcomes.join('\n')).toEqual(['file-over-symlink', 'hardlink-to-symlink']);
      // ...and what is contained replaced the link in the root instead of writing through it.
      for (const id of contained) {
        const root = join(work, `root-${whiteouts}-${id}`);
        const file = id === 'file-over-symlink' ? 'to-marker' : 'h';
        expect((await lstat(join(root, file))).isFile()).toBe(true);
        expect(await readFile(join(root, file), 'utf8')).toBe('replaces the link');
      }
    });
  }
});
