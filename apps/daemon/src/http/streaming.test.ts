import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { dockerTimestamp, pipeOutput } from './streaming.js';

describe('log output', () => {
  it('prints timestamps in UTC with Z, nanoseconds kept, as Docker', () => {
    expect(dockerTimestamp('2026-11-27T04:04:42.894804476+00:00')).toBe('2026-11-27T04:04:42.894804476Z');
    expect(dockerTimestamp('2026-11-27T05:04:42.000000001+01:00')).toBe('2026-11-27T04:04:42.000000001Z');
    expect(dockerTimestamp('2026-11-27T00:30:00.5-01:00')).toBe('2026-11-27T01:30:00.5Z');
  });

  it('frames every chunk as bytes, batching what is waiting, without a listener left per wait', async () => {
    const bin = Buffer.from([0xff, 0x00, 0x0a, 0xc3]);
    const chunks = Array.from({ length: 5000 }, (_, i) => ({ stream: i % 2 ? 'stderr' : 'stdout', data: i === 7 ? bin : Buffer.from(`line ${i}\n`) }));
    // a slow client: a small buffer makes the writer wait for drain again and again
    const dest = new PassThrough({ highWaterMark: 1024 });
    const got: Buffer[] = [];
    const reading = (async () => {
      for await (const c of dest) {
        got.push(c as Buffer);
        await new Promise((r) => setImmediate(r));
      }
    })();
    await pipeOutput(Readable.from(chunks), dest, { tty: false });
    expect(dest.listenerCount('close')).toBeLessThan(3);
    dest.end();
    await reading;
    const all = Buffer.concat(got);
    let at = 0;
    for (const c of chunks) {
      expect(all[at]).toBe(c.stream === 'stderr' ? 2 : 1);
      const len = all.readUInt32BE(at + 4);
      expect(all.subarray(at + 8, at + 8 + len)).toEqual(c.data);
      at += 8 + len;
    }
    expect(at).toBe(all.length);
    // fewer writes than chunks: what was waiting went out together
    expect(got.length).toBeLessThan(chunks.length);
  });

  it('ends quietly when the client went away and the route destroyed the output (premature close)', async () => {
    const output = new Readable({ objectMode: true, read() {} });
    output.push({ stream: 'stdout', data: Buffer.from('first\n') });
    const dest = new PassThrough();
    dest.resume();
    const piping = pipeOutput(output, dest, { tty: false });
    await new Promise((r) => setImmediate(r));
    // what the logs route does on the response's close
    dest.destroy();
    output.destroy();
    await expect(piping).resolves.toBeUndefined();
  });

  it('still fails when the output breaks while the client is there', async () => {
    const output = new Readable({ objectMode: true, read() {} });
    const dest = new PassThrough();
    dest.resume();
    const piping = pipeOutput(output, dest, { tty: false });
    output.destroy(new Error('log file vanished'));
    await expect(piping).rejects.toThrow('log file vanished');
  });
});
