import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from './support/daemon.js';
import { docker, dockerOk } from './support/docker-cli.js';
import { writeBuildContext } from '@berth/fixtures';

const run = promisify(execFile);
// Before 2038: tar-stream writes later times wrongly
const FUTURE = new Date('2037-01-02T03:04:05Z');
const PAST = new Date('2001-02-03T04:05:06Z');

/** A tar whose entries carry `FUTURE` times, but one from `PAST`. */
async function futureTar(): Promise<Buffer> {
  const pack = tar.pack();
  const parts: Buffer[] = [];
  pack.on('data', (b: unknown) => parts.push(b as Buffer));
  const done = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  pack.entry({ name: 'pkg/', type: 'directory', mode: 0o755, mtime: FUTURE });
  pack.entry({ name: 'pkg/new.txt', mode: 0o644, mtime: FUTURE }, 'new\n');
  pack.entry({ name: 'pkg/old.txt', mode: 0o644, mtime: PAST }, 'old\n');
  pack.entry({ name: 'pkg/link', type: 'symlink', linkname: 'new.txt', mtime: FUTURE });
  pack.finalize();
  await done;
  return Buffer.concat(parts);
}

/** Every entry's (name, mtime in seconds) in an image's layers above its first `skip`, read from `docker save`. */
async function layerTimes(env: NodeJS.ProcessEnv, work: string, ref: string, skip: number): Promise<Map<string, number>> {
  const dir = await mkdtemp(join(work, 'save-'));
  await dockerOk(env, ['save', '-o', join(dir, 'image.tar'), ref]);
  await run('tar', ['-xf', join(dir, 'image.tar'), '-C', dir]);
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { Layers: string[] }[];
  const times = new Map<string, number>();
  for (const layer of manifest[0]!.Layers.slice(skip)) {
    const ex = tar.extract();
    ex.on('entry', (h, stream, next) => {
      times.set(h.name.replace(/\/$/, ''), Math.floor(h.mtime!.getTime() / 1000));
      stream.on('end', next);
      stream.resume();
    });
    await pipeline(createReadStream(join(dir, layer)), ex);
  }
  await rm(dir, { recursive: true, force: true });
  return times;
}

// SOURCE_DATE_EPOCH clamps every time in every layer the build writes (BuildKit's
// rewrite-timestamp): a later time becomes the epoch, an earlier one stays.
describe('SOURCE_DATE_EPOCH clamps the times in the layers a build writes', { timeout: 180_000 }, () => {
  let t: TestDaemon;
  let env: NodeJS.ProcessEnv;
  let work: string;
  let server: Server;
  let base: string;
  const suffix = Math.random().toString(16).slice(2, 8);

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-epoch-'));
    server = createServer((_req, res) => {
      res.setHeader('Last-Modified', FUTURE.toUTCString());
      res.end('remote\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    t = await startTestDaemon();
    env = { ...t.dockerEnv, DOCKER_BUILDKIT: '0' };
    await t.daemon.engine.images.ensureBuiltin('busybox');
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('an ADDed tar, an ADDed URL, a COPY and a RUN with future times: the same image ID twice, every time <= the epoch', async () => {
    const dir = await writeBuildContext(work, 'ctx', {
      Dockerfile: [
        'FROM busybox',
        'ADD future.tar /unpacked/',
        `ADD ${base}/remote.txt /remote.txt`,
        'COPY copied.txt /copied.txt',
        'RUN touch -d "2037-01-02 03:04:05" /ran && mkdir /ran-dir',
        'WORKDIR /w',
        '',
      ].join('\n'),
      'copied.txt': 'copied\n',
    });
    await writeFile(join(dir, 'future.tar'), await futureTar());
    await utimes(join(dir, 'copied.txt'), FUTURE, FUTURE);
    const baseLayers = (JSON.parse(await dockerOk(env, ['image', 'inspect', '-f', '{{json .RootFS.Layers}}', 'busybox'])) as string[]).length;

    const build = async (epoch: number, tag: string, noCache: boolean): Promise<string> => {
      const r = await docker(env, ['build', '-q', ...(noCache ? ['--no-cache'] : []), '--build-arg', `SOURCE_DATE_EPOCH=${epoch}`, '-t', tag, dir], { timeoutMs: 90_000 });
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.trim();
    };
    const epoch = 1_700_000_000;
    const first = await build(epoch, `epoch-${suffix}-1`, true);
    // a second apart at least, so that unclamped times would differ
    await new Promise((res) => setTimeout(res, 1100));
    const second = await build(epoch, `epoch-${suffix}-2`, true);
    expect(first).toMatch(/^sha256:/);
    expect(second).toBe(first);

    const times = await layerTimes(env, work, first, baseLayers);
    for (const name of ['unpacked/pkg', 'unpacked/pkg/new.txt', 'unpacked/pkg/link', 'remote.txt', 'copied.txt', 'ran', 'ran-dir', 'w']) expect(times.get(name), name).toBe(epoch);
    // earlier times stay as they were
    expect(times.get('unpacked/pkg/old.txt')).toBe(PAST.getTime() / 1000);
    expect(Math.max(...times.values())).toBeLessThanOrEqual(epoch);

    // An earlier epoch with the cache on: no step made under the other epoch is reused
    const earlier = 1_600_000_000;
    const third = await build(earlier, `epoch-${suffix}-3`, false);
    expect(third).not.toBe(first);
    const clamped = await layerTimes(env, work, third, baseLayers);
    expect(Math.max(...clamped.values())).toBeLessThanOrEqual(earlier);
    expect(clamped.get('unpacked/pkg/new.txt')).toBe(earlier);
  });
});
