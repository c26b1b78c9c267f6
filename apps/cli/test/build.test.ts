import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHtpasswd, startRegistry, writeBuildContext } from '@berth/fixtures';
import { useCliDaemon } from './support/fixture.js';

// `berth build` against a real berthd: the same context, .dockerignore and stream as docker's
// classic builder (DOCKER_BUILDKIT=0 docker build is the reference for the step lines).
describe('berth build', () => {
  const t = useCliDaemon({ busybox: 'builtin', dockerEnv: { DOCKER_BUILDKIT: '0' } });
  const { berth, berthOk, docker } = t;
  let work: string;
  const suffix = Math.random().toString(16).slice(2, 8);

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-cli-build-'));
  });
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  const context = (name: string, files: Record<string, string>): Promise<string> => writeBuildContext(work, name, files);

  it('builds and tags, honours .dockerignore, prints the steps as docker does', async () => {
    const dir = await context('simple', {
      Dockerfile: 'FROM busybox\nCOPY . /ctx/\nRUN ls -R /ctx > /list\nCMD ["cat", "/list"]\n',
      '.dockerignore': '# comment\nsecret*\nlogs\n!logs/keep.log\n**/*.tmp\n',
      'a.txt': 'a\n',
      'secret.key': 'no\n',
      'logs/x.log': 'no\n',
      'logs/keep.log': 'yes\n',
      'deep/dir/f.tmp': 'no\n',
      'deep/dir/g.txt': 'yes\n',
    });
    const tag = `cli-${suffix}`;
    const b = await berth(['build', '-t', tag, dir]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toMatch(/^Sending build context to Berth daemon {2}\d/);
    expect(b.stdout).toContain('Step 1/4 : FROM busybox\n');
    expect(b.stdout).toContain('Step 3/4 : RUN ls -R /ctx > /list\n');
    expect(b.stdout).toContain(`Successfully tagged ${tag}:latest\n`);
    const list = await berthOk(['run', '--rm', tag]);
    expect(list).toBe('/ctx:\nDockerfile\na.txt\ndeep\nlogs\n\n/ctx/deep:\ndir\n\n/ctx/deep/dir:\ng.txt\n\n/ctx/logs:\nkeep.log\n');
    // docker's own CLI sends the same context: same COPY content hash, so every step is cached
    const d = await docker(['build', '-t', `${tag}-docker`, dir]);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout.match(/Using cache/g)?.length).toBe(3);
    const q = await berth(['build', '-q', '--iidfile', join(work, 'iid'), dir]);
    expect(q.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(await readFile(join(work, 'iid'), 'utf8')).toBe(q.stdout.trim());
  });

  it('-f outside the context, --build-arg, --target, and a Dockerfile on stdin', async () => {
    const dir = await context('ctx2', { 'data.txt': 'data\n' });
    const df = join(work, 'elsewhere.Dockerfile');
    await writeFile(df, 'FROM busybox AS one\nARG WHAT=none\nCOPY data.txt /data.txt\nRUN echo "$WHAT" >> /data.txt\nFROM one AS two\nCMD ["cat", "/data.txt"]\n');
    const tag = `cli2-${suffix}`;
    await berthOk(['build', '-f', df, '--build-arg', 'WHAT=argument', '--target', 'one', '--label', 'team=core', '-t', tag, dir]);
    expect(await berthOk(['image', 'inspect', '-f', '{{json .Config.Labels}}', tag])).toBe('{"team":"core"}\n');
    expect(await berthOk(['run', '--rm', tag, 'cat', '/data.txt'])).toBe('data\nargument\n');
    const stdin = await berth(['build', '-t', `${tag}-stdin`, '-'], { input: 'FROM busybox\nCMD ["echo", "from stdin"]\n' });
    expect(stdin.code, stdin.stderr).toBe(0);
    expect(await berthOk(['run', '--rm', `${tag}-stdin`])).toBe('from stdin\n');
  });

  it('FROM a login-protected registry: berth sends its stored logins with the build', async () => {
    const secured = await startRegistry({ htpasswdPath: await makeHtpasswd(join(work, 'htpasswd'), 'erin', 'pw5') });
    try {
      const ref = `${secured.host}/base-${suffix}:1`;
      await berthOk(['tag', 'busybox', ref]);
      await berthOk(['login', '-u', 'erin', '--password-stdin', secured.host], { input: 'pw5\n' });
      await berthOk(['push', ref]);
      await berthOk(['rmi', ref]);
      const dir = await context('private', { Dockerfile: `FROM ${ref}\nCMD ["echo", "private base"]\n` });
      const r = await berth(['build', '-t', `priv-${suffix}`, dir]);
      expect(r.code, r.stderr).toBe(0);
      expect(await berthOk(['run', '--rm', `priv-${suffix}`])).toBe('private base\n');
    } finally {
      await berth(['logout', secured.host]);
      await secured.stop();
    }
  });

  it('a failing step exits with its code and the message; a bad Dockerfile names its line', async () => {
    const dir = await context('fail', { Dockerfile: 'FROM busybox\nRUN exit 4\n' });
    const r = await berth(['build', dir]);
    expect(r.code).toBe(4);
    expect(r.stderr).toBe("The command '/bin/sh -c exit 4' returned a non-zero code: 4\n");
    const bad = await context('bad', { Dockerfile: 'FROM busybox\nCOPY\n' });
    const b = await berth(['build', bad]);
    expect(b.code).toBe(1);
    expect(b.stderr).toContain('dockerfile parse error line 2: COPY requires at least two arguments');
  });
});
