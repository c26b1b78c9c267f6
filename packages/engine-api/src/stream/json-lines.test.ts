import { describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { exactJson, jsonLine, readJsonLines } from './json-lines.js';

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

describe('exactJson', () => {
  it('writes a bigint as the exact integer, unquoted, where JSON numbers would round it', () => {
    const v1Unlimited = 9223372036854771712n;
    expect(JSON.stringify({ n: Number(v1Unlimited) })).toBe('{"n":9223372036854772000}');
    expect(exactJson({ stats: { hierarchical_memory_limit: v1Unlimited, rss: 4096 }, list: [18446744073709551615n] })).toBe(
      '{"stats":{"hierarchical_memory_limit":9223372036854771712,"rss":4096},"list":[18446744073709551615]}',
    );
    expect(jsonLine({ n: 1n })).toBe('{"n":1}\n');
  });

  it('leaves strings that look like its tag alone', () => {
    const v = { a: 'bigint:5', b: '"bigint_:6"', c: 7n };
    const text = exactJson(v);
    expect(text).toBe('{"a":"bigint:5","b":"\\"bigint_:6\\"","c":7}');
    expect(JSON.parse(text)).toEqual({ a: 'bigint:5', b: '"bigint_:6"', c: 7 });
  });
});
