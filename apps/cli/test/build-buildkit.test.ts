import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berthRunner } from './support/cli.js';
import { useCliDaemon } from './support/fixture.js';
import { writeBuildContext } from '@berth/fixtures';

// `berth build` with what only it can send (secrets, --no-cache-filter) and BuildKit's
// progress displays, against a real berthd.
describe('berth build: dockerfile:1 secrets, --no-cache-filter, --progress', { timeout: 180_000 }, () => {
  const t = useCliDaemon({ busybox: 'builtin' });
  const { berth, berthOk } = t;
  let work: string;
  const suffix = Math.random().toString(16).slice(2, 8);

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-cli-bk-'));
  });
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  const context = (name: string, files: Record<string, string>): Promise<string> => writeBuildContext(work, name, files);

  it('--secret: readable by the RUN as a file and as env, in no layer, history or config; a missing required one fails', async () => {
    const secretFile = join(work, 'token.txt');
    await writeFile(secretFile, 's3cr3t-value');
    // the Dockerfile names only the value's digest: any 's3cr3t' in the image came from the secret
    const md5 = createHash('md5').update('s3cr3t-value').digest('hex');
    const dir = await context('secret', {
      Dockerfile: [
        '# syntax=docker/dockerfile:1',
        'FROM busybox',
        `RUN --mount=type=secret,id=tok,required test "$(md5sum < /run/secrets/tok | cut -c1-32)" = ${md5} && echo file-ok > /file-ok`,
        'RUN --mount=type=secret,id=tok,target=/etc/tok,mode=0440,uid=7 stat -c "%a %u" /etc/tok > /mode',
        `RUN --mount=type=secret,id=tok,env=TOK test "$(printf %s "$TOK" | md5sum | cut -c1-32)" = ${md5} && echo env-ok > /env-ok`,
        'RUN --mount=type=secret,id=absent echo optional-skipped > /skipped',
        '',
      ].join('\n'),
    });
    const tag = `secret-${suffix}`;
    const b = await berth(['build', '--secret', `id=tok,src=${secretFile}`, '-t', tag, dir], { timeoutMs: 120_000 });
    expect(b.code, b.stdout + b.stderr).toBe(0);
    expect(b.stdout).not.toContain('s3cr3t');
    const inside = await berthOk(['run', '--rm', tag, 'sh', '-c', 'cat /file-ok /mode /env-ok /skipped; ls -A /run/secrets /etc/tok 2>&1; grep -rl s3cr3t /bin /etc /run /root /tmp /var /file-ok 2>/dev/null | wc -l']);
    expect(inside).toBe('file-ok\n440 7\nenv-ok\noptional-skipped\nls: /run/secrets: No such file or directory\nls: /etc/tok: No such file or directory\n0\n');
    expect(await berthOk(['history', '--no-trunc', tag])).not.toContain('s3cr3t');
    expect(await berthOk(['image', 'inspect', tag])).not.toContain('s3cr3t');
    // every layer's bytes: the saved image holds no trace of the value
    const saved = await berth(['save', tag], { timeoutMs: 60_000 });
    expect(saved.code).toBe(0);
    expect(saved.stdout).not.toContain('s3cr3t');
    // the env form of --secret
    const withEnv = berthRunner(t.bin, { ...t.berthEnv, MY_TOKEN: 's3cr3t-value' }).berth;
    const viaEnv = await withEnv(['build', '--no-cache', '--secret', 'id=tok,env=MY_TOKEN', dir], { timeoutMs: 120_000 });
    expect(viaEnv.code, viaEnv.stderr).toBe(0);
    const missing = await context('secret-missing', { Dockerfile: 'FROM busybox\nRUN --mount=type=secret,id=nope,required=true true\n' });
    const m = await berth(['build', missing]);
    expect(m.code).toBe(1);
    expect(m.stderr).toContain('secret nope: not found');
  });

  it('--secret larger than a header holds (up to BuildKit\'s 500 KiB) reaches the RUN; a larger one is refused by name', async () => {
    // binary bytes, several secrets: their header form would be far over the 16 KiB Node allows
    const big = Buffer.alloc(480 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919 + (i >> 8)) & 0xff;
    await writeFile(join(work, 'big.bin'), big);
    await writeFile(join(work, 'mid.bin'), big.subarray(0, 40 * 1024));
    const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');
    const dir = await context('secret-big', {
      Dockerfile: [
        'FROM busybox',
        `RUN --mount=type=secret,id=big --mount=type=secret,id=mid test "$(md5sum < /run/secrets/big | cut -c1-32)" = ${md5(big)} && test "$(md5sum < /run/secrets/mid | cut -c1-32)" = ${md5(big.subarray(0, 40 * 1024))} && echo big-ok > /big-ok`,
        '',
      ].join('\n'),
    });
    const tag = `secret-big-${suffix}`;
    const b = await berth(['build', '--secret', `id=big,src=${join(work, 'big.bin')}`, '--secret', `id=mid,src=${join(work, 'mid.bin')}`, '-t', tag, dir], { timeoutMs: 120_000 });
    expect(b.code, b.stdout + b.stderr).toBe(0);
    expect(await berthOk(['run', '--rm', tag, 'sh', '-c', 'cat /big-ok; ls /run/secrets 2>&1; true'])).toBe('big-ok\nls: /run/secrets: No such file or directory\n');

    await writeFile(join(work, 'huge.bin'), Buffer.alloc(500 * 1024 + 1, 1));
    const h = await berth(['build', '--secret', `id=huge,src=${join(work, 'huge.bin')}`, dir], { timeoutMs: 60_000 });
    expect(h.code).not.toBe(0);
    expect(h.stderr).toContain('secret huge too big: 512001 bytes (at most 500 KiB, as BuildKit)');
  });

  it('--progress plain|tty|quiet draw BuildKit-style; --no-cache-filter reruns a stage only', async () => {
    const dir = await context('progress', {
      Dockerfile: ['FROM busybox AS deps', 'RUN echo deps-$RANDOM > /deps', 'FROM busybox', 'COPY --from=deps /deps /deps', 'RUN echo printed-by-run', ''].join('\n'),
    });
    const tag = `progress-${suffix}`;
    const first = await berth(['build', '--progress', 'plain', '-t', tag, dir], { timeoutMs: 120_000 });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe('');
    expect(first.stderr).toMatch(/^#1 \[internal\] load build context\n/);
    expect(first.stderr).toMatch(/#\d+ \[5\/5\] RUN echo printed-by-run\n#\d+ \d+\.\d{3} printed-by-run\n#\d+ DONE \d+\.\ds\n/);
    expect(first.stderr).toMatch(/#\d+ exporting to image\n#\d+ \d+\.\d{3} writing image sha256:[0-9a-f]{64} done\n#\d+ \d+\.\d{3} naming to progress-[0-9a-f]+:latest done\n/);
    const deps1 = await berthOk(['run', '--rm', tag, 'cat', '/deps']);

    const cached = await berth(['build', '--progress=plain', '-t', tag, dir], { timeoutMs: 120_000 });
    expect(cached.stderr).toMatch(/#\d+ \[2\/5\] RUN echo deps-\$RANDOM > \/deps\n#\d+ CACHED\n/);
    expect(cached.stderr).toMatch(/#\d+ \[5\/5\] RUN echo printed-by-run\n#\d+ CACHED\n/);

    const filtered = await berth(['build', '--progress=plain', '--no-cache-filter', 'deps', '-t', tag, dir], { timeoutMs: 120_000 });
    expect(filtered.code, filtered.stderr).toBe(0);
    expect(filtered.stderr).toMatch(/#\d+ \[2\/5\] RUN echo deps-\$RANDOM > \/deps\n#\d+ DONE/);
    expect(await berthOk(['run', '--rm', tag, 'cat', '/deps'])).not.toBe(deps1);

    const tty = await berth(['build', '--progress', 'tty', dir], { timeoutMs: 120_000 });
    expect(tty.code, tty.stderr).toBe(0);
    expect(tty.stderr).toContain('[+] Building');
    expect(tty.stderr).toMatch(/\(\d+\/\d+\) FINISHED\n/);
    expect(tty.stderr).toContain(' => CACHED [5/5] RUN echo printed-by-run');

    const quiet = await berth(['build', '--progress', 'quiet', dir], { timeoutMs: 120_000 });
    expect(quiet).toMatchObject({ code: 0, stderr: '' });
    expect(quiet.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);

    const bad = await berth(['build', '--progress', 'fancy', dir]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('invalid progress mode fancy');
  });

  it('a failing step under --progress plain: its ERROR line, the exit code', async () => {
    const dir = await context('fail', { Dockerfile: 'FROM busybox\nRUN echo about-to-fail && exit 4\n' });
    const r = await berth(['build', '--progress', 'plain', dir], { timeoutMs: 60_000 });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/#\d+ \d+\.\d{3} about-to-fail\n#\d+ ERROR: The command '\/bin\/sh -c echo about-to-fail && exit 4' returned a non-zero code: 4\n/);
  });
});
