import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHtpasswd, startRegistry, writeBuildContext } from '@berth/fixtures';
import { useTestDaemon } from './support/fixture.js';
import { docker, dockerOk } from './support/docker-cli.js';
import { request } from './support/http.js';

// The real docker CLI's classic builder (DOCKER_BUILDKIT=0): it tars the context itself,
// honouring .dockerignore, POSTs /build and renders the JSON stream.
describe('docker build (classic builder) against berthd', () => {
  const t = useTestDaemon({ busybox: 'builtin' });
  let env: NodeJS.ProcessEnv;
  let work: string;
  const suffix = Math.random().toString(16).slice(2, 8);

  beforeAll(async () => {
    env = { ...t.dockerEnv, DOCKER_BUILDKIT: '0' };
    work = await mkdtemp(join(tmpdir(), 'berth-build-'));
  });
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  const context = (name: string, files: Record<string, string>): Promise<string> => writeBuildContext(work, name, files);

  it('builds with Step lines and tags, honours .dockerignore, and the image runs', async () => {
    const dir = await context('simple', {
      Dockerfile: 'FROM busybox\nENV NAME=berth\nCOPY . /ctx/\nRUN echo "built by $NAME" > /msg && ls /ctx > /list\nCMD ["sh", "-c", "cat /msg /list"]\n',
      '.dockerignore': 'secret.txt\n*.log\n',
      'keep.txt': 'keep\n',
      'secret.txt': 'secret\n',
      'debug.log': 'log\n',
      'sub/inner.txt': 'inner\n',
    });
    const tag = `x-${suffix}`;
    const r = await docker(env, ['build', '-t', tag, dir], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Step 1/5 : FROM busybox\n');
    expect(r.stdout).toContain('Step 4/5 : RUN echo "built by $NAME" > /msg && ls /ctx > /list\n');
    expect(r.stdout).toMatch(/ ---> Running in [0-9a-f]{12}\n/);
    expect(r.stdout).toMatch(/Successfully built [0-9a-f]{12}\n/);
    expect(r.stdout).toContain(`Successfully tagged ${tag}:latest\n`);
    const run = await docker(env, ['run', '--rm', tag]);
    expect(run).toEqual({ code: 0, stdout: 'built by berth\nDockerfile\nkeep.txt\nsub\n', stderr: '' });

    // only the result is listed: the step images went once their layers were in it
    expect((await dockerOk(env, ['images', '-q', '--filter', 'dangling=true'])).trim()).toBe('');
    // the same build again: every step from the cache, same image
    const again = await docker(env, ['build', '-q', '-t', tag, dir]);
    expect(again.code, again.stderr).toBe(0);
    const id = (await dockerOk(env, ['image', 'inspect', '-f', '{{.Id}}', tag])).trim();
    expect(again.stdout.trim()).toBe(id);

    // docker builder prune forgets the cache: the next build runs every step again
    const prune = await docker(env, ['builder', 'prune', '-f']);
    expect(prune.code, prune.stderr).toBe(0);
    const rebuilt = await docker(env, ['build', dir]);
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    expect(rebuilt.stdout).not.toContain('Using cache');
  });

  it('builds multi-stage with COPY --from, build args and -f', async () => {
    const dir = await context('multi', {
      'build.Dockerfile': [
        'FROM busybox AS builder',
        'ARG FLAVOUR=plain',
        'RUN mkdir -p /out && echo "flavour $FLAVOUR" > /out/result',
        'FROM busybox',
        'COPY --from=builder /out/result /result',
        'CMD ["cat", "/result"]',
        '',
      ].join('\n'),
    });
    const tag = `multi-${suffix}`;
    const r = await docker(env, ['build', '-f', join(dir, 'build.Dockerfile'), '--build-arg', 'FLAVOUR=spicy', '-t', tag, dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Step 5/6 : COPY --from=builder /out/result /result\n');
    expect(await dockerOk(env, ['run', '--rm', tag])).toBe('flavour spicy\n');
  });

  it('FROM an image of a registry that needs a login: pulled during the build with the CLI\'s stored credentials', async () => {
    const htpasswd = await makeHtpasswd(join(work, 'htpasswd'), 'dave', 'secret7');
    const secured = await startRegistry({ htpasswdPath: htpasswd });
    try {
      const ref = `${secured.host}/base-${suffix}:1`;
      await dockerOk(env, ['tag', 'busybox', ref]);
      await dockerOk(env, ['login', secured.host, '-u', 'dave', '--password-stdin'], { input: 'secret7\n' });
      await dockerOk(env, ['push', ref]);
      await dockerOk(env, ['rmi', ref]);
      const dir = await context('private', { Dockerfile: `FROM ${ref}\nRUN echo pulled > /p\nCMD ["cat", "/p"]\n` });
      const r = await docker(env, ['build', '-t', `private-${suffix}`, dir]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`Status: Downloaded newer image for ${ref}`);
      expect(await dockerOk(env, ['run', '--rm', `private-${suffix}`])).toBe('pulled\n');
      await dockerOk(env, ['logout', secured.host]);
      await dockerOk(env, ['rmi', ref]);
      const denied = await docker(env, ['build', '--no-cache', dir]);
      expect(denied.code).not.toBe(0);
      expect(denied.stdout + denied.stderr).toMatch(/unauthorized|authentication required|401/i);
    } finally {
      await secured.stop();
    }
  });

  it('a failing RUN is an error with Docker\'s message and its exit code; a bad Dockerfile names its line', async () => {
    const dir = await context('fail', { Dockerfile: 'FROM busybox\nRUN echo before && exit 3\n' });
    const r = await docker(env, ['build', dir]);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain('before\n');
    expect(r.stderr).toContain("The command '/bin/sh -c echo before && exit 3' returned a non-zero code: 3");
    // the failed step's container stays for inspection, as with dockerd (--force-rm removes it)
    const kept = (await dockerOk(env, ['ps', '-aq'])).trim().split('\n').filter(Boolean);
    expect(kept).toHaveLength(1);
    expect((await dockerOk(env, ['logs', kept[0]!])).trim()).toBe('before');
    await dockerOk(env, ['rm', kept[0]!]);
    const forced = await docker(env, ['build', '--force-rm', dir]);
    expect(forced.code).toBe(3);
    expect((await dockerOk(env, ['ps', '-aq'])).trim()).toBe('');
    const remote = await request(t.socketPath, 'POST', '/v1.41/build?remote=https%3A%2F%2Fexample.com%2Fctx.tar', { body: '', headers: { 'Content-Type': 'application/x-tar' } });
    expect(remote.status).toBe(501);
    expect(JSON.parse(remote.body)).toEqual({ message: 'remote build contexts (https://example.com/ctx.tar) are not supported by Berth: send the context in the request body' });
    const bad = await context('bad', { Dockerfile: 'FROM busybox\n\nFOO bar\n' });
    const b = await docker(env, ['build', bad]);
    expect(b.code).toBe(1);
    expect(b.stderr).toContain('Error response from daemon: dockerfile parse error line 3: unknown instruction: FOO');
  });
});
