import { describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { readJsonLines } from './json-lines.js';

describe('readJsonLines', () => {
  it('parses objects split across chunks and skips blank lines', async () => {
    const src = Readable.from(['{"status":"a"}\n{"sta', 'tus":"b"}\n\n', '{"id":"c"}']);
    const got: unknown[] = [];
    for await (const m of readJsonLines(src)) got.push(m);
    expect(got).toEqual([{ status: 'a' }, { status: 'b' }, { id: 'c' }]);
  });
  it('throws on a line that is not JSON', async () => {
    const src = Readable.from(['nope\n']);
    await expect(async () => {
      for await (const _ of readJsonLines(src)) {
        // consume
      }
    }).rejects.toThrow(/invalid JSON/);
  });
});
