import { describe, expect, it } from 'vitest';
import { PassThrough, Readable } from 'node:stream';
import fc from 'fast-check';
import { FrameDecoder, StreamType, createMuxer, demultiplexStream, encodeFrame, readFrames } from './multiplex.js';

describe('multiplexed stream', () => {
  it('encodes the 8-byte header Docker uses', () => {
    const f = encodeFrame(StreamType.stderr, 'hi');
    expect([...f.subarray(0, 8)]).toEqual([2, 0, 0, 0, 0, 0, 0, 2]);
    expect(f.subarray(8).toString()).toBe('hi');
  });

  it('decodes frames split at any byte boundary', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ s: fc.constantFrom(1, 2), p: fc.uint8Array({ maxLength: 40 }) }), { maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 13 }), { minLength: 1, maxLength: 5 }),
        (frames, cuts) => {
          const wire = Buffer.concat(frames.map((f) => encodeFrame(f.s as StreamType, Buffer.from(f.p))));
          const d = new FrameDecoder();
          const out: { s: number; p: number[] }[] = [];
          let i = 0;
          let k = 0;
          while (i < wire.length) {
            const n = cuts[k++ % cuts.length] as number;
            for (const fr of d.push(wire.subarray(i, i + n))) out.push({ s: fr.stream, p: [...fr.payload] });
            i += n;
          }
          expect(d.buffered).toBe(0);
          expect(out).toEqual(frames.filter((f) => f.p.length >= 0).map((f) => ({ s: f.s, p: [...f.p] })));
        },
      ),
    );
  });

  it('rejects a malformed header', () => {
    expect(() => new FrameDecoder().push(Buffer.from('hello world!'))).toThrow(/malformed/);
  });

  it('muxes and demuxes through streams', async () => {
    const wire = new PassThrough();
    const out = createMuxer(StreamType.stdout);
    const err = createMuxer(StreamType.stderr);
    out.pipe(wire, { end: false });
    err.pipe(wire, { end: false });
    out.write('one\n');
    err.write('two\n');
    out.write(Buffer.alloc(0));
    out.write('three\n');
    await new Promise((r) => setImmediate(r));
    wire.end();
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    await demultiplexStream(wire, stdout, stderr);
    stdout.end();
    stderr.end();
    expect((await stdout.toArray()).join('')).toBe('one\nthree\n');
    expect((await stderr.toArray()).join('')).toBe('two\n');
  });

  it('reports a stream cut inside a frame', async () => {
    const wire = Readable.from([encodeFrame(1, 'abcdef').subarray(0, 10)]);
    await expect(async () => {
      for await (const _ of readFrames(wire)) {
        // consume
      }
    }).rejects.toThrow(/ended inside a frame/);
  });
});
