import { watch } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import type { BuildOptions, ProgressMessage } from '../src/index.js';
import { busyboxEngine, runImage } from './helpers.js';

// What a build stores and when: step images are only written when needed (a RUN container
// starts from one, it ends a stage, the build failed after it), a cached rebuild writes
// nothing, a RUN's container is released while the build goes on.

const t = busyboxEngine();

function contextTar(files: Record<string, string>): Readable {
  const pack = tar.pack();
  for (const [name, body] of Object.entries(files)) pack.entry({ name, mode: 0o644, mtime: new Date(1_700_000_000_000) }, body);
  pack.finalize();
  return pack as unknown as Readable;
}

async function build(files: Record<string, string>, opts: BuildOptions = {}): Promise<{ id: string; stream: string }> {
  const msgs: ProgressMessage[] = [];
  const res = await t.engine.builder.build(contextTar(files), { networkMode: 'none', ...opts, onProgress: (m) => msgs.push(m) });
  return { id: res.id, stream: msgs.map((m) => m.stream ?? '').join('') };
}

async function failedBuild(files: Record<string, string>): Promise<string> {
  const msgs: ProgressMessage[] = [];
  await expect(t.engine.builder.build(contextTar(files), { networkMode: 'none', onProgress: (m) => msgs.push(m) })).rejects.toThrow(/returned a non-zero code: 3/);
  return msgs.map((m) => m.stream ?? '').join('');
}

const imageIds = async (): Promise<string[]> => (await t.engine.images.list({ all: true })).map((i) => i.Id).sort();
const snapshots = async (): Promise<string[]> => (await readdir(join(t.root, 'snapshots', 'overlay'))).filter((n) => /^\d+$/.test(n)).sort();
const DOCKERFILE = 'FROM busybox\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\nCMD ["cat", "/b.txt"]\n';

describe('build step images', () => {
  it('a cached rebuild writes no blob and leaves the images as they were; a changed source misses the cache', async () => {
    const first = await build({ Dockerfile: DOCKERFILE, 'a.txt': 'one\n' }, { tags: ['steps:one'] });
    expect(await runImage(t.engine, 'steps:one', ['cat', '/b.txt'])).toBe('one\n');
    const before = await imageIds();
    // every blob (a layer, an image config) is published into this directory
    const created: string[] = [];
    const watcher = watch(join(t.root, 'content', 'blobs', 'sha256'), (_e, name) => created.push(String(name)));
    const again = await build({ Dockerfile: DOCKERFILE, 'a.txt': 'one\n' }, { tags: ['steps:one'] });
    await new Promise((r) => setTimeout(r, 100));
    watcher.close();
    expect(again.id).toBe(first.id);
    expect(again.stream.match(/ ---> Using cache\n/g)).toHaveLength(3);
    expect(created).toEqual([]);
    expect(await imageIds()).toEqual(before);

    const changed = await build({ Dockerfile: DOCKERFILE, 'a.txt': 'two\n' }, { tags: ['steps:two'] });
    expect(changed.stream).not.toContain('Using cache');
    expect(changed.id).not.toBe(first.id);
    expect(await runImage(t.engine, 'steps:two', ['cat', '/b.txt'])).toBe('two\n');
  });

  it('a failed build leaves its last good step as an image, also when that step came from the cache', async () => {
    const files = { Dockerfile: 'FROM busybox\nCOPY a.txt /a.txt\nRUN echo ran > /ran\nRUN exit 3\n', 'a.txt': 'failing\n' };
    for (const round of ['made', 'cached']) {
      const stream = await failedBuild(files);
      if (round === 'cached') expect(stream.match(/ ---> Using cache\n/g)).toHaveLength(2);
      // the ID shown after Step 3/4 is the image the failed step ran on
      const shown = /Step 3\/4 : RUN echo ran[\s\S]*? ---> ([0-9a-f]{12})\n/.exec(stream)?.[1];
      expect(shown, stream).toBeDefined();
      expect(await runImage(t.engine, shown!, ['cat', '/a.txt', '/ran'])).toBe('failing\nran\n');
    }
  });

  it('a cached step whose layer blob is gone is made again', async () => {
    const files = { Dockerfile: 'FROM busybox\nRUN echo lost > /lost\n', x: '' };
    const first = await build(files);
    const layer = (await t.engine.images.inspect(first.id)).RootFS.Layers!.at(-1)!;
    await t.engine.images.remove(first.id);
    await rm(join(t.root, 'content', 'blobs', 'sha256', layer.slice(7)), { force: true });
    const again = await build(files);
    expect(again.stream).not.toContain('Using cache');
    expect(await runImage(t.engine, again.id, ['cat', '/lost'])).toBe('lost\n');
    await t.engine.images.remove(again.id);
  });

  it("a RUN step's container is gone when the build ends; removing the image right after leaves no snapshot", async () => {
    // (the failed builds above keep their failed steps' containers, as Docker does)
    const containers = async (): Promise<string[]> => (await t.engine.containers.list({ all: true })).map((c) => c.Id).sort();
    const [base, before] = [await snapshots(), await containers()];
    const { id } = await build({ Dockerfile: 'FROM busybox\nRUN echo x > /x\nRUN echo y > /y\n', x: '' });
    expect(await containers()).toEqual(before);
    await t.engine.images.remove(id);
    expect(await snapshots()).toEqual(base);
  });

  it('many builds do not make the daemon slower (one AsyncLocalStorage for every build)', async () => {
    const files = { Dockerfile: 'FROM scratch\nLABEL a=b\n', x: '' };
    const promises = async (): Promise<number> => {
      const t0 = performance.now();
      for (let i = 0; i < 20_000; i++) await Promise.resolve(i);
      return performance.now() - t0;
    };
    await build(files);
    const before = Math.min(await promises(), await promises());
    for (let i = 0; i < 100; i++) await build(files);
    const after = Math.min(await promises(), await promises());
    // one storage per build made each promise ~8x dearer after 100 builds
    expect(after).toBeLessThan(before * 3 + 5);
  });
});
