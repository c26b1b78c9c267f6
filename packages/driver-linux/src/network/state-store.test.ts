import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsonRecordDir } from './state-store.js';

describe('JsonRecordDir cached', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-records-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('loads what is on disk once, writes through, and hands out copies', async () => {
    const plain = new JsonRecordDir<{ n: number; tags: string[] }>(join(dir, 'r'));
    await plain.put('a', { n: 1, tags: [] });
    const cached = new JsonRecordDir<{ n: number; tags: string[] }>(join(dir, 'r'), { cached: true });
    expect(await cached.values()).toEqual([{ n: 1, tags: [] }]);
    await cached.put('b', { n: 2, tags: ['x'] });
    expect(JSON.parse(await readFile(join(dir, 'r', 'b.json'), 'utf8'))).toEqual({ n: 2, tags: ['x'] });
    const got = (await cached.get('b'))!;
    got.tags.push('mutated by a caller');
    expect(await cached.get('b')).toEqual({ n: 2, tags: ['x'] });
    await cached.delete('a');
    expect(await cached.keys()).toEqual(['b']);
    expect(await plain.keys()).toEqual(['b']);
    // a new owner (a restarted daemon) reads the disk again
    expect(await new JsonRecordDir(join(dir, 'r'), { cached: true }).values()).toEqual([{ n: 2, tags: ['x'] }]);
  });
});
