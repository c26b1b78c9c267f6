import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Digester, digestOf, isDigest, parseDigest, verifyDigest } from './digest.js';

const EMPTY = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

describe('digest', () => {
  it('hashes bytes', () => {
    expect(digestOf('')).toBe(EMPTY);
  });

  it('parses valid digests and rejects bad ones with a reason', () => {
    expect(parseDigest(EMPTY)).toEqual({ algorithm: 'sha256', hex: EMPTY.slice(7) });
    expect(isDigest('sha512:' + 'a'.repeat(128))).toBe(true);
    expect(() => parseDigest('sha256:ABC')).toThrow(/64 lowercase hex/);
    expect(() => parseDigest('md5:' + 'a'.repeat(32))).toThrow(/unsupported algorithm/);
    expect(() => parseDigest('nocolon')).toThrow(/missing algorithm/);
  });

  it('hashes a stream while passing it through', async () => {
    const d = new Digester();
    const seen: Buffer[] = [];
    await pipeline(
      Readable.from([Buffer.from('hello '), Buffer.from('world')]),
      d,
      new Writable({ write(c, _e, cb) { seen.push(c); cb(); } }),
    );
    expect(Buffer.concat(seen).toString()).toBe('hello world');
    expect(d.size).toBe(11);
    expect(d.digest()).toBe(digestOf('hello world'));
    expect(() => verifyDigest(EMPTY, d.digest())).toThrow(/digest mismatch/);
  });
});
