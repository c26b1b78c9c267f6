import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDaemon } from './support/fixture.js';
import { docker, dockerOk } from './support/docker-cli.js';
import { writeBuildContext } from '@berth/fixtures';

// A corpus of docker/dockerfile:1 Dockerfiles built by berthd through the real docker CLI's
// classic path (DOCKER_BUILDKIT=0 sends the Dockerfile as is); each image's contents are
// checked from inside a container of it.
// Builds here run several RUN steps each: more time than the default on a busy machine.
describe('docker/dockerfile:1 syntax through docker build against berthd', { timeout: 180_000 }, () => {
  const t = useTestDaemon({ busybox: 'builtin' });
  let env: NodeJS.ProcessEnv;
  let work: string;
  const suffix = Math.random().toString(16).slice(2, 8);

  beforeAll(async () => {
    env = { ...t.dockerEnv, DOCKER_BUILDKIT: '0' };
    work = await mkdtemp(join(tmpdir(), 'berth-bk-'));
  }, 120_000);
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  const context = (name: string, files: Record<string, string>): Promise<string> => writeBuildContext(work, name, files);

  async function build(dir: string, tag: string, args: string[] = []): Promise<string> {
    const r = await docker(env, ['build', '-t', tag, ...args, dir], { timeoutMs: 120_000 });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    return r.stdout;
  }

  /** What `script` prints in a container of `tag`. */
  function inside(tag: string, script: string): Promise<string> {
    return dockerOk(env, ['run', '--rm', tag, 'sh', '-c', script]);
  }

  it("the issue's Dockerfile: # syntax=, a cache mount, COPY --chmod and a RUN heredoc", async () => {
    const dir = await context('issue', {
      Dockerfile: [
        '# syntax=docker/dockerfile:1',
        'FROM busybox:latest',
        'RUN --mount=type=cache,target=/cache echo hi > /cache/x && cp /cache/x /b',
        'COPY --chmod=755 Dockerfile /df',
        'RUN <<EOF',
        'echo heredoc > /c',
        'EOF',
        '',
      ].join('\n'),
    });
    const tag = `issue-${suffix}`;
    await build(dir, tag);
    // the cache mount's directory is not in the image (neither it nor its mount point)
    expect(await inside(tag, 'cat /b /c; stat -c %a /df; ls -d /cache 2>&1 || true')).toBe('hi\nheredoc\n755\nls: /cache: No such file or directory\n');
  });

  it('heredocs: <<- strips tabs, a quoted delimiter keeps $, several per line, a shebang script, COPY with ARGs expanded', async () => {
    const dir = await context('heredoc', {
      Dockerfile: [
        '# syntax=docker/dockerfile:1.7',
        '# check=skip=JSONArgsRecommended',
        'FROM busybox',
        'ARG WHO=berth',
        'RUN <<-EOT',
        '\techo "tabs gone $WHO" > /tabs',
        '\tEOT',
        "RUN <<'EOF'",
        'echo \'$HOME stays\' > /quoted',
        'EOF',
        'RUN <<A cat > /two-a && <<B cat > /two-b',
        'first',
        'A',
        'second',
        'B',
        'RUN <<EOF',
        '#!/bin/sh -e',
        'echo "shebang $0" > /shebang',
        'EOF',
        'COPY <<one <<"two" /docs/',
        'hello $WHO',
        'one',
        'raw $WHO',
        'two',
        'COPY --chmod=700 <<run.sh /usr/local/bin/',
        '#!/bin/sh',
        'echo run',
        'run.sh',
        '',
      ].join('\n'),
    });
    const tag = `heredoc-${suffix}`;
    await build(dir, tag);
    expect(await inside(tag, 'cat /tabs /quoted /two-a /two-b; cat /docs/one /docs/two; stat -c %a /usr/local/bin/run.sh; run.sh')).toBe(
      'tabs gone berth\n$HOME stays\nfirst\nsecond\nhello berth\nraw $WHO\n700\nrun\n',
    );
    expect(await inside(tag, 'case "$(cat /shebang)" in "shebang "*) echo ok;; *) cat /shebang;; esac')).toBe('ok\n');
  });

  it('a cache mount persists across builds (id, sharing, mode, uid) and is never in a layer', async () => {
    const dir = await context('cache', {
      Dockerfile: [
        'FROM busybox',
        'ARG ROUND',
        'RUN --mount=type=cache,id=bk-count,target=/var/cache/c,sharing=locked echo "$ROUND" >> /var/cache/c/rounds && cp /var/cache/c/rounds /rounds',
        'RUN --mount=type=cache,id=bk-owned,target=/owned,uid=1000,gid=1001,mode=0700 stat -c "%u %g %a" /owned > /owned-stat',
        'RUN --mount=type=cache,id=bk-count,target=/again,readonly cat /again/rounds > /seen-ro',
        '',
      ].join('\n'),
    });
    const tag = `cache-${suffix}`;
    await build(dir, tag, ['--build-arg', 'ROUND=one']);
    await build(dir, tag, ['--build-arg', 'ROUND=two']);
    expect(await inside(tag, 'cat /rounds; cat /owned-stat; cat /seen-ro; ls /var/cache/c /owned /again 2>/dev/null | wc -l')).toBe('one\ntwo\n1000 1001 700\none\ntwo\n0\n');
  });

  it('bind mounts from the context and from another stage; tmpfs; --network=none', async () => {
    const dir = await context('bind', {
      Dockerfile: [
        'FROM busybox AS tools',
        'RUN mkdir /tools && echo "from tools" > /tools/note',
        'FROM busybox',
        'RUN --mount=type=bind,source=src,target=/src cat /src/a.txt > /a-copy && (touch /src/new 2>/dev/null && echo writable || echo read-only) > /bind-mode',
        'RUN --mount=type=bind,source=src,target=/src,rw touch /src/scratch && ls /src > /rw-list',
        'RUN --mount=type=bind,from=tools,source=/tools,target=/t cat /t/note > /tools-note',
        'RUN --mount=type=tmpfs,target=/scratch echo tmp > /scratch/f && grep -c " /scratch tmpfs " /proc/mounts > /tmpfs-seen',
        'RUN --network=none cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " " > /netdevs',
        '',
      ].join('\n'),
      'src/a.txt': 'context file\n',
    });
    const tag = `bind-${suffix}`;
    await build(dir, tag);
    expect(await inside(tag, 'cat /a-copy /bind-mode /rw-list /tools-note /tmpfs-seen /netdevs; ls /src /t /scratch 2>/dev/null | wc -l')).toBe(
      'context file\nread-only\na.txt\nscratch\nfrom tools\n1\nlo\n0\n',
    );
    // a bind source is part of the step's cache key: a changed file reruns the RUN
    await writeFile(join(dir, 'src/a.txt'), 'changed\n');
    await build(dir, tag);
    expect(await inside(tag, 'cat /a-copy')).toBe('changed\n');
  });

  it('COPY --parents, --exclude, --link (its layer the same on any base); ADD --checksum needs a URL', async () => {
    const dir = await context('copy', {
      Dockerfile: [
        'FROM busybox AS one',
        'RUN echo base one > /one',
        'COPY --link app/ /app/',
        'FROM busybox AS two',
        'RUN echo base two > /two',
        'COPY --link app/ /app/',
        'COPY --parents ./app/./lib/x.js /p/',
        'COPY --parents app/lib/*.js /q/',
        'COPY --exclude=*.log --exclude=tmp app /ex/',
        '',
      ].join('\n'),
      'app/main.js': 'main\n',
      'app/lib/x.js': 'x\n',
      'app/lib/y.js': 'y\n',
      'app/debug.log': 'log\n',
      'app/tmp/junk': 'junk\n',
    });
    const tag = `copy-${suffix}`;
    await build(dir, tag);
    expect(await inside(tag, 'find /p /q /ex | sort')).toBe(
      ['/ex', '/ex/lib', '/ex/lib/x.js', '/ex/lib/y.js', '/ex/main.js', '/p', '/p/lib', '/p/lib/x.js', '/q', '/q/app', '/q/app/lib', '/q/app/lib/x.js', '/q/app/lib/y.js', ''].join('\n'),
    );
    await build(dir, `${tag}-one`, ['--target', 'one']);
    const layers = async (ref: string): Promise<string[]> => JSON.parse(await dockerOk(env, ['image', 'inspect', '-f', '{{json .RootFS.Layers}}', ref])) as string[];
    const [a, b] = [await layers(`${tag}-one`), await layers(tag)];
    // busybox, the RUN, then the --link COPY: different bases, the same COPY layer
    expect(a[2]).toBe(b[2]);
    expect(a[1]).not.toBe(b[1]);

    const add = await context('add-checksum', { Dockerfile: 'FROM busybox\nADD --checksum=sha256:0000000000000000000000000000000000000000000000000000000000000000 Dockerfile /x\n' });
    const r = await docker(env, ['build', add]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("checksum can't be specified for non-HTTP(S) sources");
  });

  it('platform ARGs, only the stages the target needs (an unused failing stage never runs), --target', async () => {
    const dir = await context('stages', {
      Dockerfile: [
        'FROM busybox AS broken',
        'RUN echo never-run && exit 7',
        'FROM busybox AS base',
        'ARG TARGETPLATFORM TARGETOS TARGETARCH BUILDPLATFORM',
        'RUN echo "$TARGETPLATFORM $TARGETOS $TARGETARCH $BUILDPLATFORM" > /platform',
        'FROM base AS final',
        'RUN echo final > /final',
        'FROM broken AS also-broken',
        '',
      ].join('\n'),
    });
    const tag = `stages-${suffix}`;
    const out = await build(dir, tag, ['--target', 'final']);
    expect(out).not.toContain('never-run');
    const arch = process.arch === 'x64' ? 'amd64' : process.arch;
    expect(await inside(tag, 'cat /platform /final')).toBe(`linux/${arch} linux ${arch} linux/${arch}\nfinal\n`);
  });

  it('independent stages build at the same time (each waits for the other in a shared cache mount); the output stays in step order', async () => {
    // Run one after the other, the first stage would give up after 20 s and fail the build.
    const wait = (me: string, other: string): string =>
      `RUN --mount=type=cache,id=rendezvous-${suffix},target=/r,sharing=shared touch /r/${me} && i=0; while [ ! -f /r/${other} ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done; test -f /r/${other} && echo ${me} > /${me}`;
    const dir = await context('concurrent', {
      Dockerfile: ['ARG LEFT=left', `FROM busybox AS left`, wait('left', 'right'), 'FROM busybox AS right', wait('right', 'left'), 'FROM busybox', 'ARG LEFT', 'COPY --from=${LEFT} /left /l', 'COPY --from=right /right /r', ''].join('\n'),
    });
    const tag = `concurrent-${suffix}`;
    const out = await build(dir, tag);
    const steps = [...out.matchAll(/Step (\d+)\/9 :/g)].map((m) => Number(m[1]));
    expect(steps).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(await inside(tag, 'cat /l /r')).toBe('left\nright\n');
  });

  it('SOURCE_DATE_EPOCH: two uncached builds give the same image ID', async () => {
    const dir = await context('repro', {
      Dockerfile: ['FROM busybox', 'COPY f /f', 'RUN echo made > /made && mkdir -p /d/e', 'WORKDIR /w', 'LABEL x=y', ''].join('\n'),
      f: 'file\n',
    });
    const ids: string[] = [];
    for (const n of [1, 2]) {
      const r = await docker(env, ['build', '-q', '--no-cache', '--build-arg', 'SOURCE_DATE_EPOCH=1700000000', '-t', `repro-${suffix}-${n}`, dir], { timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
      ids.push(r.stdout.trim());
      // a second apart at least, so that unclamped times would differ
      await new Promise((res) => setTimeout(res, 1100));
    }
    expect(ids[0]).toMatch(/^sha256:/);
    expect(ids[1]).toBe(ids[0]);
    expect((await dockerOk(env, ['image', 'inspect', '-f', '{{.Created}}', ids[0]!])).trim()).toBe('2023-11-14T22:13:20Z');
  });

  it('refuses another frontend by name, and RUN --network=host (an entitlement)', async () => {
    const other = await context('frontend', { Dockerfile: '# syntax=example.com/my/frontend:2\nFROM busybox\n' });
    const r = await docker(env, ['build', other]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('example.com/my/frontend:2');
    const host = await context('nethost', { Dockerfile: 'FROM busybox\nRUN --network=host true\n' });
    const h = await docker(env, ['build', host]);
    expect(h.code).toBe(1);
    expect(h.stderr).toContain('network.host');
  });
});
