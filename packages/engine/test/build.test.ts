import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import type { ProgressMessage } from '../src/index.js';
import { busyboxEngine, runImage } from './helpers.js';

const t = busyboxEngine();

interface Item {
  name: string;
  body?: string;
  type?: 'file' | 'directory';
  mode?: number;
}

function contextTar(items: Item[]): Readable {
  const pack = tar.pack();
  void (async () => {
    for (const e of items) {
      await new Promise<void>((res, rej) =>
        pack.entry({ name: e.name, type: e.type ?? 'file', mode: e.mode ?? (e.type === 'directory' ? 0o755 : 0o644), mtime: new Date(1_700_000_000_000) }, e.body ?? '', (err) => (err ? rej(err) : res())),
      );
    }
    pack.finalize();
  })();
  return pack as unknown as Readable;
}

const DOCKERFILE = `FROM busybox
ENV GREETING=hello WHO=berth
WORKDIR /app
COPY --chown=1000:1000 file.txt ./
COPY --chown=1000:1000 dir /app/dir/
RUN echo "$GREETING $WHO" > /app/out.txt && stat -c '%u:%g' /app/file.txt /app/dir/sub/b.txt >> /app/out.txt
CMD ["sh", "-c", "cat /app/out.txt /app/file.txt /app/dir/a.txt /app/dir/sub/b.txt; pwd"]
`;

const CONTEXT: Item[] = [
  { name: 'Dockerfile', body: DOCKERFILE },
  { name: 'file.txt', body: 'file\n' },
  { name: 'dir/', type: 'directory' },
  { name: 'dir/a.txt', body: 'a\n' },
  { name: 'dir/sub/', type: 'directory' },
  { name: 'dir/sub/b.txt', body: 'b\n' },
];

describe('build (classic builder)', () => {
  it('builds a multi-step Dockerfile, runs it, and reuses the cache on a second build', async () => {
    const msgs: ProgressMessage[] = [];
    const t0 = Date.now();
    const first = await t.engine.builder.build(contextTar(CONTEXT), { tags: ['built:one'], networkMode: 'none', onProgress: (m) => msgs.push(m) });
    const firstMs = Date.now() - t0;
    const stream = msgs.map((m) => m.stream ?? '').join('');
    expect(stream).toContain('Step 1/7 : FROM busybox\n');
    expect(stream).toContain('Step 6/7 : RUN echo "$GREETING $WHO"');
    expect(stream).toMatch(/ ---> Running in [0-9a-f]{12}\n/);
    expect(stream).toContain(`Successfully built ${first.id.slice(7, 19)}\n`);
    expect(stream).toContain('Successfully tagged built:one\n');
    expect(msgs.some((m) => (m.aux as { ID?: string } | undefined)?.ID === first.id)).toBe(true);
    expect(await runImage(t.engine, 'built:one')).toBe('hello berth\n1000:1000\n1000:1000\nfile\na\nb\n/app\n');
    const inspect = await t.engine.images.inspect('built:one');
    expect(inspect.Config.WorkingDir).toBe('/app');
    expect(inspect.Config.Env).toContain('GREETING=hello');
    // intermediate step images are gone (their layers live on in the result); nothing dangles
    expect(await t.engine.images.list({ filters: { dangling: ['true'] } })).toEqual([]);
    const history = await t.engine.images.history('built:one');
    expect(history[0]!.CreatedBy).toContain('#(nop)  CMD');

    const again: ProgressMessage[] = [];
    const t1 = Date.now();
    const second = await t.engine.builder.build(contextTar(CONTEXT), { tags: ['built:two'], networkMode: 'none', onProgress: (m) => again.push(m) });
    const secondMs = Date.now() - t1;
    expect(second.id).toBe(first.id);
    expect(again.map((m) => m.stream ?? '').join('').match(/Using cache/g)?.length).toBe(6);
    expect(secondMs).toBeLessThan(firstMs);
    console.log(`build: first ${firstMs} ms, cached ${secondMs} ms`);

    const uncached = await t.engine.builder.build(contextTar(CONTEXT), { noCache: true, networkMode: 'none' });
    expect(uncached.id).not.toBe(first.id);
  });

  it('fails a RUN with Docker\'s message; keeps the failed step\'s container as Docker does, unless forceRm', async () => {
    const before = (await t.engine.containers.list({ all: true })).map((c) => c.Id);
    const df = contextTar([{ name: 'Dockerfile', body: 'FROM busybox\nRUN echo about to fail && false\n' }]);
    const err = await t.engine.builder.build(df, { networkMode: 'none' }).then(() => undefined, (e: unknown) => e as Error);
    expect(err?.message).toBe("The command '/bin/sh -c echo about to fail && false' returned a non-zero code: 1");
    const kept = (await t.engine.containers.list({ all: true })).filter((c) => !before.includes(c.Id));
    expect(kept.map((c) => c.State)).toEqual(['exited']);
    expect(kept[0]!.Command).toContain('echo about to fail && false');
    await t.engine.containers.remove(kept[0]!.Id);
    const again = contextTar([{ name: 'Dockerfile', body: 'FROM busybox\nRUN echo about to fail && false\n' }]);
    await expect(t.engine.builder.build(again, { networkMode: 'none', forceRm: true })).rejects.toThrow(/non-zero code: 1/);
    expect((await t.engine.containers.list({ all: true })).map((c) => c.Id)).toEqual(before);
  });

  it('builds multi-stage with COPY --from, ARG and a target; ADD extracts a local tar', async () => {
    const inner = tar.pack();
    inner.entry({ name: 'x/y.txt', mode: 0o644 }, 'from tar\n');
    inner.finalize();
    const chunks: Buffer[] = [];
    for await (const c of inner as unknown as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
    const df = `ARG BASE=busybox
FROM \${BASE} AS build
ARG MSG=default
RUN mkdir /out && echo "built $MSG" > /out/result.txt
FROM scratch AS final
COPY --from=build /bin/busybox /bin/busybox
COPY --from=0 /out/ /data/
ADD archive.tar /unpacked/
CMD ["/bin/busybox", "cat", "/data/result.txt", "/unpacked/x/y.txt"]
`;
    const ctx = (): Readable =>
      contextTar([
        { name: 'Dockerfile', body: df },
        { name: 'archive.tar', body: Buffer.concat(chunks).toString('latin1') },
      ]);
    const res = await t.engine.builder.build(ctx(), { buildArgs: { MSG: 'with-arg' }, tags: ['multi:stage'], networkMode: 'none' });
    expect(await runImage(t.engine, 'multi:stage')).toBe('built with-arg\nfrom tar\n');
    const target = await t.engine.builder.build(ctx(), { buildArgs: { MSG: 'with-arg' }, target: 'build', networkMode: 'none' });
    expect(target.id).not.toBe(res.id);
    expect(await runImage(t.engine, target.id, ['cat', '/out/result.txt'])).toBe('built with-arg\n');
  });

  it('runs the base image\'s ONBUILD triggers first, and does not pass them on', async () => {
    await t.engine.builder.build(contextTar([{ name: 'Dockerfile', body: 'FROM busybox\nONBUILD COPY trig.txt /trig.txt\nONBUILD RUN echo ran >> /trig.txt\n' }]), { tags: ['onbuild:base'], networkMode: 'none' });
    expect((await t.engine.images.inspect('onbuild:base')).Config.OnBuild).toEqual(['COPY trig.txt /trig.txt', 'RUN echo ran >> /trig.txt']);
    const msgs: ProgressMessage[] = [];
    await t.engine.builder.build(
      contextTar([
        { name: 'Dockerfile', body: 'FROM onbuild:base\nCMD ["cat", "/trig.txt"]\n' },
        { name: 'trig.txt', body: 'from context\n' },
      ]),
      { tags: ['onbuild:child'], networkMode: 'none', onProgress: (m) => msgs.push(m) },
    );
    expect(msgs.map((m) => m.stream ?? '').join('')).toContain('# Executing 2 build triggers\n');
    expect(await runImage(t.engine, 'onbuild:child')).toBe('from context\nran\n');
    expect((await t.engine.images.inspect('onbuild:child')).Config.OnBuild).toBeNull();
  });

  it('COPY --from sees the stage\'s filesystem as overlayfs does (a directory removed and made again hides the old one)', async () => {
    const df = `FROM busybox AS src
RUN mkdir /out && echo old > /out/old
RUN rm -rf /out && mkdir /out && echo new > /out/new
FROM busybox
COPY --from=src /out /copied/
CMD ["ls", "/copied"]
`;
    await t.engine.builder.build(contextTar([{ name: 'Dockerfile', body: df }]), { tags: ['opaque:test'], networkMode: 'none' });
    expect(await runImage(t.engine, 'opaque:test')).toBe('new\n');
  });

  it('rejects an ADD URL it cannot fetch, a git URL and a missing source clearly', async () => {
    await expect(t.engine.builder.build(contextTar([{ name: 'Dockerfile', body: 'FROM busybox\nADD http://127.0.0.1:1/x /x\n' }]))).rejects.toThrow(/^ADD failed: Get "http:\/\/127\.0\.0\.1:1\/x": connect ECONNREFUSED/);
    await expect(t.engine.builder.build(contextTar([{ name: 'Dockerfile', body: 'FROM busybox\nADD git@example.com:a/b.git /x\n' }]))).rejects.toThrow(/only http\(s\) URLs are fetched/);
    await expect(t.engine.builder.build(contextTar([{ name: 'Dockerfile', body: 'FROM busybox\nCOPY nothere /x\n' }]))).rejects.toThrow(
      'COPY failed: file not found in build context or excluded by .dockerignore: stat nothere: file does not exist',
    );
  });
});
