import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readFirstChunk } from './first-chunk.js';

async function text(r: Readable): Promise<string> {
  let s = '';
  for await (const c of r) s += String(c);
  return s;
}

describe('readFirstChunk', () => {
  it('gives the first chunk and a stream of everything', async () => {
    const { first, rest } = await readFirstChunk(Readable.from([Buffer.from('ab'), Buffer.from('cd')]));
    expect(first?.toString()).toBe('ab');
    expect(await text(rest)).toBe('abcd');
  });
  it('null for an empty stream', async () => {
    const { first, rest } = await readFirstChunk(Readable.from([]));
    expect(first).toBeNull();
    expect(await text(rest)).toBe('');
  });
  it('rejects on an error before the first chunk; a later error reaches the rest', async () => {
    const early = new PassThrough();
    const waiting = readFirstChunk(early);
    early.destroy(new Error('no such file'));
    await expect(waiting).rejects.toThrow('no such file');
    const late = new PassThrough();
    late.write('x');
    const { rest } = await readFirstChunk(late);
    late.destroy(new Error('cut'));
    await expect(text(rest)).rejects.toThrow('cut');
  });
  it('a stream destroyed without an error (its reader went away) ends the wait and the rest; one that ends does not lose data', async () => {
    const gone = new PassThrough();
    const waiting = readFirstChunk(gone);
    gone.destroy();
    expect((await waiting).first).toBeNull();
    const later = new PassThrough();
    later.write('x');
    const { rest } = await readFirstChunk(later);
    later.destroy();
    await expect(text(rest)).rejects.toThrow(/premature close/i);
    // one chunk and the end right after it: the rest still gives the chunk
    const single = new PassThrough();
    single.end('only');
    expect(await text((await readFirstChunk(single)).rest)).toBe('only');
  });
});
