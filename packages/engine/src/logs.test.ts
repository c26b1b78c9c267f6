import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readLogs } from './logs.js';

describe('readLogs', () => {
  it('joins partial lines, whatever other flags share the tag', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-logs-'));
    try {
      const path = join(dir, 'ctr.log');
      await writeFile(
        path,
        [
          '2026-11-27T04:04:42.000000001+00:00 stdout P hel',
          '2026-11-27T04:04:42.000000002+00:00 stdout P:x lo',
          '2026-11-27T04:04:42.000000003+00:00 stdout F  world',
          '2026-11-27T04:04:42.000000004+00:00 stderr F oops',
          '',
        ].join('\n'),
      );
      const chunks: { stream: string; data: Buffer }[] = [];
      for await (const c of readLogs(path, {}, () => false)) chunks.push(c);
      expect(chunks.map((c) => `${c.stream}:${c.data.toString()}`)).toEqual(['stdout:hello world\n', 'stderr:oops\n']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
