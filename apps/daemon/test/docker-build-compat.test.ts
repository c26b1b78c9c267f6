import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDaemon } from './support/fixture.js';
import { docker, dockerOk } from './support/docker-cli.js';
import { request } from './support/http.js';
import { writeBuildContext } from '@berth/fixtures';

// The docker CLI's classic builder (DOCKER_BUILDKIT=0) against berthd, for what dockerd 20.10
// does and clients rely on: a Dockerfile from outside the context, --add-host, --cache-from,
// the build stream's stderr colouring.
describe('docker build (classic builder): Docker\'s behaviours clients rely on', () => {
  const t = useTestDaemon({ busybox: 'builtin' });
  let env: NodeJS.ProcessEnv;
  let work: string;
  const suffix = Math.random().toString(16).slice(2, 8);

  beforeAll(async () => {
    env = { ...t.dockerEnv, DOCKER_BUILDKIT: '0' };
    work = await mkdtemp(join(tmpdir(), 'berth-build-compat-'));
  });
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  const context = (name: string, files: Record<string, string>): Promise<string> => writeBuildContext(work, name, files);

  it('-f outside the context and -f - (with --compress): the CLI\'s unterminated tar builds, and the Dockerfile is not in the image', async () => {
    const dir = await context('ooc', { 'file.txt': 'hello\n' });
    const dfDir = await context('ooc-df', { Dockerfile: 'FROM busybox\nCOPY . /src\nCMD ["ls", "-a", "/src"]\n' });
    const tag = `ooc-${suffix}`;
    const r = await docker(env, ['build', '-t', tag, '-f', join(dfDir, 'Dockerfile'), dir]);
    expect(r.code, r.stderr).toBe(0);
    // the CLI lists .dockerignore and its .dockerfile.<random> in the .dockerignore it sends
    expect(await dockerOk(env, ['run', '--rm', tag])).toBe('.\n..\nfile.txt\n');
    const piped = await docker(env, ['build', '--compress', '-t', `${tag}-stdin`, '-f', '-', dir], { input: 'FROM busybox\nCOPY . /src\nCMD ["ls", "-a", "/src"]\n' });
    expect(piped.code, piped.stderr).toBe(0);
    expect(await dockerOk(env, ['run', '--rm', `${tag}-stdin`])).toBe('.\n..\nfile.txt\n');
    // a .dockerignore of the context's own gets only the random name added: it stays, as with dockerd
    await writeFile(join(dir, '.dockerignore'), 'secret\n');
    await dockerOk(env, ['build', '-t', `${tag}-own`, '-f', join(dfDir, 'Dockerfile'), dir]);
    expect(await dockerOk(env, ['run', '--rm', `${tag}-own`])).toBe('.\n..\n.dockerignore\nfile.txt\n');
  });

  it('--add-host reaches the RUN steps\' /etc/hosts; a RUN\'s stderr comes wrapped in ESC[91m..ESC[0m', async () => {
    const dir = await context('hosts', { Dockerfile: 'FROM busybox\nRUN ping -c1 -W1 extrahost.local.test >/dev/null && cp /etc/hosts /hosts-file\nRUN sh -c ">&2 echo on-stderr"\n' });
    const tag = `hosts-${suffix}`;
    const r = await docker(env, ['build', '--no-cache', '--add-host', 'extrahost.local.test:127.0.0.1', '-t', tag, dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('\x1b[91mon-stderr\n\x1b[0m');
    expect(await dockerOk(env, ['run', '--rm', tag, 'cat', '/hosts-file'])).toContain('127.0.0.1\textrahost.local.test\n');
  });

  it('--cache-from: the cache is that image\'s history only, also after the build cache was pruned', async () => {
    const dir = await context('cachefrom', { Dockerfile: `FROM busybox\nENV FOO=${suffix}\nRUN touch /baz\nRUN touch /bax\n` });
    const tag = `cf-${suffix}`;
    await dockerOk(env, ['build', '-t', tag, dir]);
    const hit = await dockerOk(env, ['build', '--cache-from', tag, dir]);
    expect(hit.match(/Using cache/g)?.length).toBe(3);
    const miss = await dockerOk(env, ['build', '--cache-from', `nosuchtag-${suffix}`, dir]);
    expect(miss).not.toContain('Using cache');
    await dockerOk(env, ['builder', 'prune', '-f']);
    const restored = await dockerOk(env, ['build', '-q', '--cache-from', tag, dir]);
    expect(restored.trim()).toBe((await dockerOk(env, ['image', 'inspect', '-f', '{{.Id}}', tag])).trim());
    // not a JSON list: a 500 with Docker
    const bad = await request(t.socketPath, 'POST', '/v1.41/build?cachefrom=notjson', { body: '', headers: { 'Content-Type': 'application/x-tar' } });
    expect(bad.status).toBe(500);
  });
});
