import { execFile } from 'node:child_process';
import { get } from 'node:http';
import { mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeBuildContext } from '@berth/fixtures';
import { startTestDaemon, type TestDaemon } from './support/daemon.js';
import { dockerOk } from './support/docker-cli.js';

const run = promisify(execFile);

// 2100-01-01: past tar-stream's 2038 limit, within ustar's octal digits (Go writes octal);
// 2300-06-01: past ustar's 2242 (Go writes a PAX mtime record, the ustar field 0).
const Y2100 = 4102444800;
const Y2300 = 10426838400;

/**
 * Files with times after 2038 keep them through every tar Berth writes or reads, as
 * through dockerd 20.10, which answered for the same container (`touch -d` in busybox):
 *   GET /archive?path=/d      d/f 4102444800 (octal), d/g 10426838400 (PAX mtime)
 *   GET /archive?path=/l/     (l -> /d) the same under l/
 *   docker export             d/f 4102444800, d/g 10426838400
 *   docker cp ctr:/d out      out/f 4102444800, out/g 0 (the CLI's own clamp)
 */
describe('tar times after 2038 (docker cp, export, commit, build COPY)', () => {
  let t: TestDaemon;
  let work: string;
  const ctr = 'future-times';
  /** mtimes (s) of the entries of a tar file, read by GNU tar (a reader of its own). */
  const tarTimes = async (file: string): Promise<Record<string, number>> => {
    const { stdout } = await run('tar', ['--full-time', '-tvf', file], { env: { ...process.env, TZ: 'UTC' }, maxBuffer: 1 << 26 });
    const out: Record<string, number> = {};
    for (const line of stdout.split('\n')) {
      const m = /(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (.+?)(?: -> .*)?$/.exec(line);
      if (m) out[m[2]!.trim().replace(/^\.\//, '').replace(/\/$/, '')] = Date.parse(m[1]!.replace(' ', 'T') + 'Z') / 1000;
    }
    return out;
  };
  const archive = (path: string): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      get({ socketPath: t.socketPath, path: `/v1.41/containers/${ctr}/archive?path=${encodeURIComponent(path)}` }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve(Buffer.concat(parts)));
        res.on('error', reject);
      }).on('error', reject);
    });
  const statIn = async (container: string, ...paths: string[]): Promise<number[]> =>
    (await dockerOk(t.dockerEnv, ['exec', container, 'stat', '-c', '%Y', ...paths])).trim().split('\n').map(Number);

  beforeAll(async () => {
    t = await startTestDaemon();
    await t.daemon.engine.images.ensureBuiltin('busybox');
    work = await mkdtemp(join(tmpdir(), 'berth-tar-times-'));
    await dockerOk(t.dockerEnv, [
      'run', '-d', '--name', ctr, '--network', 'none', 'busybox', 'sh', '-c',
      'mkdir /d && echo f > /d/f && echo g > /d/g && touch -d "2100-01-01 00:00:00" /d/f && touch -d "2300-06-01 00:00:00" /d/g && ln -s /d /l && sleep 300',
    ]);
    // the files are there before anything reads them
    for (let i = 0; i < 50 && (await dockerOk(t.dockerEnv, ['exec', ctr, 'ls', '/']).catch(() => '')).split('\n').includes('l') === false; i++) await new Promise((r) => setTimeout(r, 100));
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('docker cp out, directly and through a symlinked directory (the re-packed archive)', async () => {
    // the CLI itself sets a time past 2262 (Go's time limit in ns) to the epoch: g is 0
    // against dockerd too
    const mtime = async (p: string): Promise<number> => Math.floor((await stat(join(work, p))).mtimeMs / 1000);
    await dockerOk(t.dockerEnv, ['cp', `${ctr}:/d`, join(work, 'out-d')]);
    expect([await mtime('out-d/f'), await mtime('out-d/g')]).toEqual([Y2100, 0]);
    await dockerOk(t.dockerEnv, ['cp', `${ctr}:/l/`, join(work, 'out-l')]);
    expect([await mtime('out-l/f'), await mtime('out-l/g')]).toEqual([Y2100, 0]);
  });

  it('the archive of a directory, as dockerd sends it', async () => {
    const file = join(work, 'dir.tar');
    await writeFile(file, await archive('/d'));
    expect(await tarTimes(file)).toMatchObject({ 'd/f': Y2100, 'd/g': Y2300 });
  });

  it('the archive of a symlinked directory, as dockerd sends it', async () => {
    const file = join(work, 'link.tar');
    await writeFile(file, await archive('/l/'));
    expect(await tarTimes(file)).toMatchObject({ 'l/f': Y2100, 'l/g': Y2300 });
  });

  it('docker export', async () => {
    const file = join(work, 'export.tar');
    await dockerOk(t.dockerEnv, ['export', '-o', file, ctr]);
    expect(await tarTimes(file)).toMatchObject({ 'd/f': Y2100, 'd/g': Y2300 });
  });

  it('docker cp in: the CLI writes 2100 in octal and 2300 as PAX; both land', async () => {
    const src = join(work, 'in');
    await run('mkdir', ['-p', src]);
    await writeFile(join(src, 'f'), 'f\n');
    await writeFile(join(src, 'g'), 'g\n');
    await utimes(join(src, 'f'), Y2100, Y2100);
    await utimes(join(src, 'g'), Y2300, Y2300);
    await dockerOk(t.dockerEnv, ['cp', src, `${ctr}:/in`]);
    expect(await statIn(ctr, '/in/f', '/in/g')).toEqual([Y2100, Y2300]);
  });

  it('docker commit: the layer keeps both times', async () => {
    await dockerOk(t.dockerEnv, ['commit', ctr, 'future-times:committed']);
    const out = await dockerOk(t.dockerEnv, ['run', '--rm', '--network', 'none', 'future-times:committed', 'stat', '-c', '%Y', '/d/f', '/d/g']);
    expect(out.trim().split('\n').map(Number)).toEqual([Y2100, Y2300]);
  });

  it('build COPY of context files from 2100 and 2300', async () => {
    const dir = await writeBuildContext(work, 'ctx', { Dockerfile: 'FROM busybox\nCOPY f g /c/\n', f: 'f\n', g: 'g\n' });
    await utimes(join(dir, 'f'), Y2100, Y2100);
    await utimes(join(dir, 'g'), Y2300, Y2300);
    await dockerOk({ ...t.dockerEnv, DOCKER_BUILDKIT: '0' }, ['build', '-q', '-t', 'future-times:built', dir], { timeoutMs: 120_000 });
    const out = await dockerOk(t.dockerEnv, ['run', '--rm', '--network', 'none', 'future-times:built', 'stat', '-c', '%Y', '/c/f', '/c/g']);
    expect(out.trim().split('\n').map(Number)).toEqual([Y2100, Y2300]);
  });
});
