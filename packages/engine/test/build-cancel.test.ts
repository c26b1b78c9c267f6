import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import type { EventMessage } from '../src/index.js';
import { busyboxEngine } from './helpers.js';

// A build whose client hung up makes no more containers: docker-py's list test counted one
// that a cancelled build made after the hang-up and removed a moment later.

const t = busyboxEngine();

function contextTar(dockerfile: string): Readable {
  const pack = tar.pack();
  pack.entry({ name: 'Dockerfile', mode: 0o644 }, dockerfile);
  pack.finalize();
  return pack as unknown as Readable;
}

async function containerEvents(since: number): Promise<string[]> {
  const sub = t.engine.events.subscribe({ since, until: Math.floor(Date.now() / 1000) + 1, filters: { type: ['container'] } });
  const seen: string[] = [];
  for await (const e of sub as AsyncIterable<EventMessage>) seen.push(e.Action ?? '');
  return seen;
}

describe('a cancelled build', () => {
  it('creates no container once its client is gone, whichever step it was preparing', async () => {
    for (const dockerfile of ['FROM busybox\nRUN true\nRUN true\n', 'FROM busybox\nENV A=1\nRUN true\n']) {
      const since = Math.floor(Date.now() / 1000);
      const hungUp = new AbortController();
      const build = t.engine.builder.build(contextTar(dockerfile), {
        networkMode: 'none',
        noCache: true,
        signal: hungUp.signal,
        // the client hangs up as soon as the first RUN is announced, before its container exists
        onProgress: (m) => {
          if (m.stream?.includes(': RUN ')) hungUp.abort();
        },
      });
      await expect(build).rejects.toThrow('the build was cancelled');
      expect(await containerEvents(since)).toEqual([]);
      expect(await t.engine.containers.list({ all: true })).toEqual([]);
    }
  });
});
