import { existsSync } from 'node:fs';
import { lstat, mkdtemp, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import tar, { type Header } from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { busyboxEngine, execText, tarNames, uniq } from './helpers.js';

const t = busyboxEngine();

type Entry = Partial<Header> & { name: string; body?: string };

async function tarBytes(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const ended = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    const { body, ...header } = e;
    await new Promise<void>((res, rej) => pack.entry({ type: 'file', mode: 0o644, ...header }, body ?? '', (err) => (err ? rej(err) : res())));
  }
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

const tarOf = async (entries: Entry[]): Promise<Readable> => Readable.from([await tarBytes(entries)]);

/** The content of one file in the container, read back through GET archive. */
async function fileIn(id: string, path: string): Promise<string> {
  const { tar: out } = await t.engine.containers.getArchive(id, path);
  const ex = tar.extract();
  let body = '';
  const done = (async () => {
    for await (const e of ex) {
      for await (const c of e) body += (c as Buffer).toString();
    }
  })();
  out.pipe(ex);
  await done;
  return body;
}

async function created(extra: Record<string, unknown> = {}, host: Record<string, unknown> = {}): Promise<string> {
  const { Id } = await t.engine.containers.create({ Image: 'busybox', Cmd: ['sleep', '30'], ...extra, HostConfig: { NetworkMode: 'none', ...host } });
  return Id;
}

describe('docker cp into a container (PUT archive)', () => {
  it('extracts into a stopped (created) container: files, dirs, links, modes, owners, times; emits extract-to-dir', async () => {
    const { engine } = t;
    const id = await created();
    const since = Math.floor(Date.now() / 1000) - 1;
    const mtime = new Date('2020-01-02T03:04:05Z');
    await engine.containers.putArchive(
      id,
      '/tmp',
      await tarOf([
        { name: 'd/', type: 'directory', mode: 0o750, uid: 1234, gid: 5678, mtime },
        { name: 'd/f.txt', body: 'hello\n', mode: 0o640, uid: 1234, gid: 5678, mtime },
        { name: 'd/link', type: 'symlink', linkname: 'f.txt' },
        { name: 'd/hard', type: 'link', linkname: 'd/f.txt' },
        { name: 'deep/er/x', body: 'x' },
      ]),
    );
    expect(await fileIn(id, '/tmp/d/f.txt')).toBe('hello\n');
    expect(await fileIn(id, '/tmp/d/hard')).toBe('hello\n');
    expect(await fileIn(id, '/tmp/deep/er/x')).toBe('x');
    const st = await engine.containers.archiveStat(id, '/tmp/d/link');
    expect(st.linkTarget).toBe('f.txt');
    const f = await engine.containers.archiveStat(id, '/tmp/d/f.txt');
    expect(f.mode & 0o777).toBe(0o640);
    expect(f.mtime).toBe(mtime.toISOString());
    expect((await engine.containers.archiveStat(id, '/tmp/d')).mtime).toBe(mtime.toISOString());
    // owners kept from the tar: look through a running container
    await engine.containers.start(id);
    expect((await execText(t.engine, id, ['stat', '-c', '%u:%g %a', '/tmp/d/f.txt', '/tmp/d'])).trim().split('\n')).toEqual(['1234:5678 640', '1234:5678 750']);
    const sub = engine.events.subscribe({ since, until: Math.floor(Date.now() / 1000) + 1, filters: { type: ['container'], event: ['extract-to-dir'] } });
    const events = [];
    for await (const e of sub) events.push(e);
    expect(events.filter((e) => e.Actor.ID === id)).toHaveLength(1);
    await engine.containers.remove(id, { force: true });
  });

  it('extracts into a running container and gunzips a gzip tar', async () => {
    const { engine } = t;
    const id = await created();
    await engine.containers.start(id);
    await engine.containers.putArchive(id, '/', Readable.from([gzipSync(await tarBytes([{ name: 'gz/in.txt', body: 'gzipped\n' }]))]));
    expect(await execText(t.engine, id, ['cat', '/gz/in.txt'])).toBe('gzipped\n');
    expect((await engine.containers.inspect(id)).State.Status).toBe('running');
    await engine.containers.remove(id, { force: true });
  });

  it('never writes outside the container: ../ names, the container\'s absolute links, links made by the archive', async () => {
    const { engine } = t;
    const marker = uniq('/tmp/berth-cp-escape');
    const id = await created();
    // an absolute link to / inside the container (absolute links are allowed in the archive, as in Docker)
    await engine.containers.putArchive(id, '/', await tarOf([{ name: 'escape', type: 'symlink', linkname: '/' }, { name: 'dst/', type: 'directory', mode: 0o755 }]));
    await engine.containers.putArchive(id, '/escape/tmp', await tarOf([{ name: marker.slice(5) + '-a', body: 'a' }]));
    expect(existsSync(`${marker}-a`)).toBe(false);
    expect(await fileIn(id, `${marker}-a`)).toBe('a');
    // ../ climbing out of the destination
    await expect(engine.containers.putArchive(id, '/dst', await tarOf([{ name: `../../../../..${marker}-b`, body: 'b' }]))).rejects.toMatchObject({
      code: 'InvalidArgument',
      message: expect.stringMatching(/is outside of "\/dst"/),
    });
    expect(existsSync(`${marker}-b`)).toBe(false);
    // a link made by the archive, then a file through it: lands inside the container
    await engine.containers.putArchive(id, '/dst', await tarOf([{ name: 'root', type: 'symlink', linkname: '/' }, { name: `root${marker}-c`, body: 'c' }]));
    expect(existsSync(`${marker}-c`)).toBe(false);
    expect(await fileIn(id, `${marker}-c`)).toBe('c');
    // a relative link out of the destination is refused (Docker: invalid symlink)
    await expect(engine.containers.putArchive(id, '/dst', await tarOf([{ name: 'up', type: 'symlink', linkname: '../../../../../../tmp' }]))).rejects.toThrow(/invalid symlink/);
    // a hardlink to a file outside the destination
    await expect(engine.containers.putArchive(id, '/dst', await tarOf([{ name: 'h', type: 'link', linkname: '../etc/passwd' }]))).rejects.toThrow(/invalid hardlink/);
    // the destination itself through a link to / in a running container
    await engine.containers.start(id);
    await engine.containers.putArchive(id, '/escape/tmp', await tarOf([{ name: marker.slice(5) + '-d', body: 'd' }]));
    expect(existsSync(`${marker}-d`)).toBe(false);
    expect(await execText(t.engine, id, ['cat', `${marker}-d`])).toBe('d');
    await engine.containers.remove(id, { force: true });
  });

  it('refuses a missing or non-directory destination, a bad tar, and dir/non-dir swaps under noOverwriteDirNonDir', async () => {
    const { engine } = t;
    const id = await created({}, {});
    await expect(engine.containers.putArchive(id, '/nope/x', await tarOf([{ name: 'a' }]))).rejects.toMatchObject({
      code: 'NotFound',
      message: `Could not find the file /nope/x in container ${id}`,
    });
    await expect(engine.containers.putArchive(id, '/etc/passwd', await tarOf([{ name: 'a' }]))).rejects.toMatchObject({ code: 'InvalidArgument', message: 'extraction point is not a directory' });
    await expect(engine.containers.putArchive(id, '/tmp', Readable.from([Buffer.alloc(1024, 'z')]))).rejects.toMatchObject({
      code: 'InvalidArgument',
      message: "Error processing tar file(exit status 1): archive/tar: invalid tar header",
    });
    // a cut archive: the entry it breaks is not left half-written
    const whole = await tarBytes([{ name: 'cut.bin', body: 'y'.repeat(4096) }]);
    await expect(engine.containers.putArchive(id, '/tmp', Readable.from([whole.subarray(0, 2048)]))).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(engine.containers.archiveStat(id, '/tmp/cut.bin')).rejects.toMatchObject({ code: 'NotFound' });
    await expect(engine.containers.putArchive(id, '/', await tarOf([{ name: 'etc', body: 'x' }]), { noOverwriteDirNonDir: true })).rejects.toThrow(
      'cannot overwrite directory "/etc" with non-directory "/"',
    );
    await expect(engine.containers.putArchive(id, '/etc', await tarOf([{ name: 'passwd', type: 'directory' }]), { noOverwriteDirNonDir: true })).rejects.toThrow(
      'cannot overwrite non-directory "/etc/passwd" with directory "/etc"',
    );
    expect(await fileIn(id, '/etc/passwd')).toMatch(/^root:/);
    // without the flag a file replaces a directory (Docker's default for the API)
    await engine.containers.putArchive(id, '/', await tarOf([{ name: 'tmp', body: 'now a file' }]));
    expect(await fileIn(id, '/tmp')).toBe('now a file');
    await engine.containers.remove(id, { force: true });
  });

  it('lands in volumes (stopped and running); refuses a read-only rootfs or mount', async () => {
    const { engine } = t;
    const vol = uniq('cpvol');
    const id = await created({}, { Binds: [`${vol}:/data`], ReadonlyRootfs: true });
    const mountpoint = (await engine.volumes.inspect(vol)).Mountpoint;
    await engine.containers.putArchive(id, '/data', await tarOf([{ name: 'v.txt', body: 'in the volume' }]));
    expect(await readFile(`${mountpoint}/v.txt`, 'utf8')).toBe('in the volume');
    await expect(engine.containers.putArchive(id, '/tmp', await tarOf([{ name: 'a' }]))).rejects.toThrow('container rootfs is marked read-only');
    await engine.containers.start(id);
    await engine.containers.putArchive(id, '/data', await tarOf([{ name: 'w.txt', body: 'running' }]));
    expect(await readFile(`${mountpoint}/w.txt`, 'utf8')).toBe('running');
    await expect(engine.containers.putArchive(id, '/', await tarOf([{ name: 'a' }]))).rejects.toThrow('container rootfs is marked read-only');
    // from the writable volume back into the read-only rootfs through a link the archive made
    await expect(
      engine.containers.putArchive(id, '/data', await tarOf([{ name: 'up', type: 'symlink', linkname: '/' }, { name: 'up/tmp/sneaked', body: 'x' }])),
    ).rejects.toThrow('/data/up/tmp/sneaked: read-only file system');
    await engine.containers.remove(id, { force: true, volumes: true });

    // a read-only bind of a stopped container is not written through its source either
    const hostDir = await mkdtemp(join(t.dir, 'robind-'));
    const id3 = await created({}, { Binds: [`${hostDir}:/robind:ro`] });
    await expect(engine.containers.putArchive(id3, '/', await tarOf([{ name: 'robind/x', body: 'x' }]))).rejects.toThrow('read-only file system');
    expect(await readdir(hostDir)).toEqual([]);
    await engine.containers.remove(id3, { force: true });

    const ro = uniq('cpro');
    const id2 = await created({}, { Binds: [`${ro}:/ro:ro`] });
    await expect(engine.containers.putArchive(id2, '/ro', await tarOf([{ name: 'a' }]))).rejects.toThrow('mounted volume is marked read-only');
    await engine.containers.remove(id2, { force: true, volumes: true });
    await engine.volumes.remove(vol).catch(() => undefined);
    await engine.volumes.remove(ro).catch(() => undefined);
  });

  it('GET archive: a trailing slash follows a link and keeps the requested name; the root archives as /...', async () => {
    const { engine } = t;
    const id = await created();
    await engine.containers.putArchive(id, '/', await tarOf([{ name: 'real/', type: 'directory' }, { name: 'real/in.txt', body: 'in' }, { name: 'alias', type: 'symlink', linkname: 'real' }]));
    for (const running of [false, true]) {
      if (running) await engine.containers.start(id);
      const asLink = await engine.containers.getArchive(id, '/alias');
      expect(asLink.stat.linkTarget).toBe('real');
      expect(await tarNames(asLink.tar)).toEqual(['alias']);
      const followed = await engine.containers.getArchive(id, '/alias/');
      expect(followed.stat).toMatchObject({ name: 'alias', linkTarget: '' });
      expect(followed.stat.mode >= 2 ** 31).toBe(true);
      expect((await tarNames(followed.tar)).sort()).toEqual(['alias/', 'alias/in.txt']);
      const root = await engine.containers.getArchive(id, '/');
      expect(root.stat.name).toBe('/');
      expect(root.stat.mode >= 2 ** 31).toBe(true);
      const all = await tarNames(root.tar);
      expect(all).toContain('/real/in.txt');
      expect(all).toContain('/bin/busybox');
    }
    await engine.containers.remove(id, { force: true });
  });

  it('copyUIDGID gives entries the container user; a symlink destination is followed', async () => {
    const { engine } = t;
    const vol = uniq('cpuid');
    const id = await created({ User: 'nobody' }, { Binds: [`${vol}:/data`] });
    const mountpoint = (await engine.volumes.inspect(vol)).Mountpoint;
    await engine.containers.putArchive(id, '/', await tarOf([{ name: 'to-data', type: 'symlink', linkname: '/data' }]));
    await engine.containers.putArchive(id, '/to-data', await tarOf([{ name: 'owned', body: 'o', uid: 0, gid: 0 }]), { copyUIDGID: true });
    const st = await lstat(`${mountpoint}/owned`);
    const passwd = await fileIn(id, '/etc/passwd');
    const nobody = passwd.split('\n').find((l) => l.startsWith('nobody:'))!.split(':');
    expect([st.uid, st.gid]).toEqual([Number(nobody[2]), Number(nobody[3])]);
    await engine.containers.remove(id, { force: true, volumes: true });
    await engine.volumes.remove(vol).catch(() => undefined);
  });
});
