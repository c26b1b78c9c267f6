import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildBigImageLayout, buildBusyboxLayout } from '@berth/fixtures';
import { DigestMismatchError, InvalidArgumentError } from '@berth/image-format';
import { buildLayer, type TestEntry } from '../testsuite/layers.js';
import { describeTree } from '../testsuite/tree.js';
import { applyLayer, UnsafeLayerError, type ApplyOptions } from './apply.js';
import { readXattrs } from './xattr.js';

let work: string;
let root: string;
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-apply-'));
  root = join(work, 'root');
  await mkdir(root);
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

function apply(entries: TestEntry[], opts: Partial<ApplyOptions> = {}, compression: 'gzip' | 'zstd' | 'none' = 'gzip') {
  const layer = buildLayer(entries, compression);
  return applyLayer(Readable.from([layer.blob]), root, { compression, whiteouts: 'delete', ...opts }).then((r) => ({ ...r, layer }));
}

function tarExtract(blob: string, dir: string): void {
  execFileSync('tar', ['-xzf', blob, '-C', dir, '--numeric-owner', '--same-permissions', '--xattrs', '--xattrs-include=*']);
}

describe('apply', () => {
  it("reports Docker's layer size (file contents, symlink targets) beside the tar's", async () => {
    const r = await apply([
      { name: 'd/', type: 'dir' },
      { name: 'd/a', content: 'hello' },
      { name: 'd/b', content: 'x'.repeat(1000) },
      { name: 'd/l', type: 'symlink', linkname: 'a' },
    ], {}, 'none');
    // Docker (overlay2) counts a symlink by its target's length: 5 + 1000 + 1.
    expect(r.contentSize).toBe(1006);
    expect(r.size).toBe(r.layer.blob.length);
  });

  it('the busybox layer comes out exactly as tar -xzf extracts it', async () => {
    const layout = await buildBusyboxLayout();
    const layer = layout.layers[0]!;
    const r = await applyLayer(createReadStream(layer.path), root, { compression: 'gzip', whiteouts: 'delete', expectedDiffId: layer.diffId as `sha256:${string}` });
    expect(r.diffId).toBe(layer.diffId);
    const ref = join(work, 'ref');
    await mkdir(ref);
    tarExtract(layer.path, ref);
    const mine = describeTree(root, { mtimes: true });
    const theirs = describeTree(ref, { mtimes: true });
    delete mine[''];
    delete theirs[''];
    expect(Object.keys(mine).length).toBeGreaterThan(100);
    expect(mine).toEqual(theirs);
  });

  it('applies every layer of the big image (whiteouts, opaque dir, hardlinks) like tar does', async () => {
    const big = await buildBigImageLayout(undefined, { scale: 0.01 });
    const ref = join(work, 'ref');
    await mkdir(ref);
    for (const layer of big.layers) {
      await applyLayer(createReadStream(layer.path), root, { compression: 'gzip', whiteouts: 'delete', expectedDiffId: layer.diffId as `sha256:${string}` });
      tarExtract(layer.path, ref);
      // tar does not process whiteouts: apply them by hand on the reference tree.
      for (const p of execFileSync('find', [ref, '-name', '.wh.*'], { encoding: 'utf8' }).split('\n').filter(Boolean).sort((a, b) => b.length - a.length)) {
        const dir = join(p, '..');
        const base = p.slice(dir.length + 1);
        if (base === '.wh..wh..opq') {
          for (const c of await readdir(dir)) if (c !== base && !(await isFromLayer(layer.path, join(dir, c).slice(ref.length + 1)))) await rm(join(dir, c), { recursive: true });
        } else await rm(join(dir, base.slice(4)), { recursive: true, force: true });
        await rm(p);
      }
    }
    expect(describeTree(root, { mtimes: true })).toEqual(describeTree(ref, { mtimes: true }));
    await expect(lstat(join(root, big.special.whiteoutFile))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(lstat(join(root, big.special.whiteoutDir))).rejects.toMatchObject({ code: 'ENOENT' });
    for (const [link, target] of big.special.hardlinks) {
      expect((await lstat(join(root, link))).ino).toBe((await lstat(join(root, target))).ino);
    }
  });

  it('keeps modes (setuid, setgid, sticky), owners, mtimes, symlinks, hardlinks, fifos and xattrs', async () => {
    const cap = Buffer.from('0100000200200000000000000000000000000000', 'hex');
    await apply([
      { name: 'bin/', type: 'dir', mode: 0o755, mtime: 1_600_000_000 },
      { name: 'bin/su', content: 'su', mode: 0o4755, uid: 0, gid: 0 },
      { name: 'bin/wall', content: 'wall', mode: 0o2755, uid: 0, gid: 5 },
      { name: 'bin/ping', content: 'ping', mode: 0o755, xattrs: [['security.capability', cap]] },
      { name: 'tmp/', type: 'dir', mode: 0o1777 },
      { name: 'home/user/', type: 'dir', mode: 0o700, uid: 1000, gid: 1000, xattrs: [['user.note', Buffer.from('hi')]] },
      { name: 'home/user/file', content: 'x', uid: 1000, gid: 1000, mode: 0o600, mtime: 1_234_567_890 },
      { name: 'sh', type: 'symlink', linkname: 'bin/su', uid: 7, gid: 8 },
      { name: 'bin/su-again', type: 'link', linkname: 'bin/su' },
      { name: 'pipe', type: 'fifo', mode: 0o640 },
      { name: 'trusted', content: 't', xattrs: [['trusted.berth', Buffer.from([0, 1, 2, 255])], ['trusted.overlay.redirect', Buffer.from('/x')]] },
    ]);
    const t = describeTree(root, { mtimes: true });
    expect(t['bin/su']).toMatchObject({ type: 'file', mode: 0o4755, uid: 0, gid: 0 });
    expect(t['bin/wall']).toMatchObject({ mode: 0o2755, gid: 5 });
    expect(t['tmp']).toMatchObject({ type: 'dir', mode: 0o1777 });
    expect(t['home/user']).toMatchObject({ mode: 0o700, uid: 1000, gid: 1000, xattrs: { 'user.note': Buffer.from('hi').toString('hex') } });
    expect(t['home/user/file']).toMatchObject({ uid: 1000, mode: 0o600, mtime: 1_234_567_890 });
    expect(t['sh']).toMatchObject({ type: 'symlink', target: 'bin/su', uid: 7, gid: 8 });
    expect(t['bin/su-again']).toMatchObject({ type: 'file', nlink: 2 });
    expect((await lstat(join(root, 'bin/su-again'))).ino).toBe((await lstat(join(root, 'bin/su'))).ino);
    expect(t['pipe']).toMatchObject({ type: 'fifo', mode: 0o640 });
    // Binary xattr values survive (tar-stream would decode them as UTF-8).
    expect(readXattrs(join(root, 'bin/ping')).get('security.capability')).toEqual(cap);
    const tx = readXattrs(join(root, 'trusted'));
    expect(tx.get('trusted.berth')).toEqual(Buffer.from([0, 1, 2, 255]));
    // An image never sets overlayfs' own attributes.
    expect(tx.has('trusted.overlay.redirect')).toBe(false);
    // Directory mtimes are set after their children are in.
    expect(Math.floor((await lstat(join(root, 'bin'))).mtimeMs / 1000)).toBe(1_600_000_000);
  });

  it('creates device nodes only when privileged', async () => {
    await apply([{ name: 'null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 }], { privileged: true });
    const st = await lstat(join(root, 'null'));
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.rdev).toBe((1 << 8) | 3);
  });

  it('a privileged apply makes a debootstrap /dev: kind, major/minor, mode and owner of each node kept', async () => {
    const mtime = 1_600_000_000;
    await apply(
      [
        { name: 'dev', type: 'dir', mode: 0o755 },
        { name: 'dev/console', type: 'char', devmajor: 5, devminor: 1, mode: 0o600, uid: 0, gid: 5, mtime },
        { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666, mtime },
        { name: 'dev/tty', type: 'char', devmajor: 5, devminor: 0, mode: 0o666, gid: 5, mtime },
        { name: 'dev/sda1', type: 'block', devmajor: 8, devminor: 1, mode: 0o660, gid: 6, mtime },
        // a minor past 255 and a major past 255 use the split encoding of dev_t
        { name: 'dev/nvme0n1p300', type: 'block', devmajor: 259, devminor: 300, mode: 0o640, uid: 7, gid: 6, mtime },
      ],
      { privileged: true },
    );
    const node = async (name: string) => {
      const st = await lstat(join(root, 'dev', name));
      return { kind: st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : '?', rdev: `${Number(BigInt(st.rdev) >> 8n & 0xfffn)}:${Number((BigInt(st.rdev) & 0xffn) | ((BigInt(st.rdev) >> 12n) & ~0xffn))}`, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtimeMs };
    };
    expect(await node('console')).toEqual({ kind: 'c', rdev: '5:1', mode: 0o600, uid: 0, gid: 5, mtime: 1_600_000_000_000 });
    expect(await node('null')).toEqual({ kind: 'c', rdev: '1:3', mode: 0o666, uid: 0, gid: 0, mtime: 1_600_000_000_000 });
    expect(await node('tty')).toEqual({ kind: 'c', rdev: '5:0', mode: 0o666, uid: 0, gid: 5, mtime: 1_600_000_000_000 });
    expect(await node('sda1')).toEqual({ kind: 'b', rdev: '8:1', mode: 0o660, uid: 0, gid: 6, mtime: 1_600_000_000_000 });
    expect(await node('nvme0n1p300')).toEqual({ kind: 'b', rdev: '259:300', mode: 0o640, uid: 7, gid: 6, mtime: 1_600_000_000_000 });
    // what tar -x makes of the same layer (as root)
    const layer = buildLayer([{ name: 'dev', type: 'dir', mode: 0o755 }, { name: 'dev/console', type: 'char', devmajor: 5, devminor: 1, mode: 0o600, gid: 5 }], 'gzip');
    const ref = join(work, 'ref');
    await mkdir(ref);
    await writeFile(join(work, 'dev.tgz'), layer.blob);
    tarExtract(join(work, 'dev.tgz'), ref);
    expect(describeTree(root)['dev/console']).toEqual(describeTree(ref)['dev/console']);
  });

  it('replaces entries: a file over a directory, a directory over a symlink', async () => {
    await mkdir(join(root, 'a/b'), { recursive: true });
    await writeFile(join(root, 'a/b/c'), 'old');
    execFileSync('ln', ['-s', '/etc', join(root, 'd')]);
    await apply([{ name: 'a', content: 'now a file' }, { name: 'd/', type: 'dir' }, { name: 'd/x', content: 'inside' }]);
    expect(await readFile(join(root, 'a'), 'utf8')).toBe('now a file');
    expect((await lstat(join(root, 'd'))).isDirectory()).toBe(true);
    expect(await readFile(join(root, 'd/x'), 'utf8')).toBe('inside');
  });

  it('whiteouts as deletions: .wh.<name> deletes, .wh..wh..opq empties the directory of older content', async () => {
    await mkdir(join(root, 'etc/conf.d'), { recursive: true });
    await writeFile(join(root, 'etc/passwd'), 'p');
    await writeFile(join(root, 'etc/group'), 'g');
    await writeFile(join(root, 'etc/conf.d/old1'), '1');
    await mkdir(join(root, 'etc/conf.d/olddir'));
    await apply([
      { name: 'etc/', type: 'dir' },
      { name: 'etc/.wh.passwd' },
      { name: 'etc/conf.d/', type: 'dir' },
      { name: 'etc/conf.d/-new-before-marker', content: 'n' },
      { name: 'etc/conf.d/.wh..wh..opq' },
      { name: 'etc/conf.d/new', content: 'n' },
      { name: 'gone/.wh.nothing' },
    ]);
    expect((await readdir(join(root, 'etc'))).sort()).toEqual(['conf.d', 'group']);
    expect((await readdir(join(root, 'etc/conf.d'))).sort()).toEqual(['-new-before-marker', 'new']);
    await expect(lstat(join(root, 'gone'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('whiteouts for overlay: 0/0 character devices and trusted.overlay.opaque=y', async () => {
    await apply(
      [
        { name: 'etc/', type: 'dir' },
        { name: 'etc/.wh.passwd' },
        { name: 'etc/.wh.group' },
        { name: 'opt/', type: 'dir' },
        { name: 'opt/.wh..wh..opq' },
        { name: 'opt/new', content: 'n' },
      ],
      { whiteouts: 'overlay' },
    );
    const w = await lstat(join(root, 'etc/passwd'));
    expect(w.isCharacterDevice() && w.rdev === 0).toBe(true);
    expect(readXattrs(join(root, 'opt')).get('trusted.overlay.opaque')?.toString()).toBe('y');
    expect(await readdir(join(root, 'opt'))).toEqual(['new']);
    const g = await lstat(join(root, 'etc/group'));
    expect(g.isCharacterDevice() && g.rdev === 0).toBe(true);
    // Whiteouts are hardlinks of one device node, whose template does not stay behind.
    expect(g.ino).toBe(w.ino);
    expect((await readdir(root)).sort()).toEqual(['etc', 'opt']);
  });

  it('decompresses zstd (Debian zstd) and plain tar, verifying the diffID', async () => {
    const z = await apply([{ name: 'z.txt', content: 'zstd!' }], {}, 'zstd');
    expect(z.diffId).toBe(z.layer.diffId);
    expect(await readFile(join(root, 'z.txt'), 'utf8')).toBe('zstd!');
    const n = await apply([{ name: 'n.txt', content: 'plain' }], {}, 'none');
    expect(n.diffId).toBe(n.layer.diffId);
    await expect(apply([{ name: 'x' }], {}, 'zstd').then(() => applyLayer(Readable.from([Buffer.from('not zstd at all')]), root, { compression: 'zstd', whiteouts: 'delete' }))).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('writes long names and link names through PAX headers', async () => {
    const long = 'd'.repeat(120) + '/' + 'f'.repeat(150);
    await apply([{ name: long, content: 'long' }, { name: 'l', type: 'symlink', linkname: 'x'.repeat(200) }, { name: 'ünïcödé', content: 'u' }]);
    expect(await readFile(join(root, long), 'utf8')).toBe('long');
    expect(describeTree(root)['l']?.target).toBe('x'.repeat(200));
    expect(await readFile(join(root, 'ünïcödé'), 'utf8')).toBe('u');
  });
});

async function isFromLayer(blob: string, rel: string): Promise<boolean> {
  const names = execFileSync('tar', ['-tzf', blob], { encoding: 'utf8', maxBuffer: 1 << 26 }).split('\n').map((n) => n.replace(/^\.\//, '').replace(/\/$/, ''));
  return names.some((n) => n === rel || n.startsWith(rel + '/'));
}

describe('hostile layers', () => {
  let outside: string;
  let marker: string;
  beforeEach(async () => {
    outside = join(work, 'outside');
    await mkdir(outside);
    marker = join(outside, 'marker');
    await writeFile(marker, 'untouched');
  });
  afterEach(async () => {
    // Nothing outside the root was written, created or replaced.
    expect(await readFile(marker, 'utf8')).toBe('untouched');
    expect(await readdir(outside)).toEqual(['marker']);
    expect((await readdir(work)).sort()).toEqual(['outside', 'root']);
  });

  const refused = (entries: TestEntry[], match: RegExp, opts: Partial<ApplyOptions> = {}) =>
    expect(apply(entries, opts)).rejects.toSatisfy((e: unknown) => e instanceof UnsafeLayerError && match.test((e as Error).message));

  it('path traversal with .. is refused', async () => {
    await refused([{ name: '../outside/marker', content: 'pwned' }], /escapes the root/);
    await refused([{ name: 'a/../../outside/marker', content: 'pwned' }], /escapes the root/);
    await refused([{ name: 'x', type: 'link', linkname: '../outside/marker' }], /escapes the root/);
  });

  it('absolute paths are refused', async () => {
    await refused([{ name: marker, content: 'pwned' }], /absolute path/);
    await refused([{ name: 'l', type: 'link', linkname: marker }], /absolute path/);
  });

  it('a symlink pointing out, then a write through it, is refused', async () => {
    await refused([{ name: 'evil', type: 'symlink', linkname: outside }, { name: 'evil/marker', content: 'pwned' }], /parent "evil" is a symlink/);
    await refused([{ name: 'rel', type: 'symlink', linkname: '../outside' }, { name: 'rel/new', content: 'pwned' }], /is a symlink/);
    // A symlink over an existing file is replaced, never written through.
    await apply([{ name: 'to-marker', type: 'symlink', linkname: marker }, { name: 'to-marker', content: 'replaces the link' }]);
    expect(await readFile(join(root, 'to-marker'), 'utf8')).toBe('replaces the link');
  });

  it('a hardlink to /etc/shadow is refused, directly or through a symlink', async () => {
    const shadow = await lstat('/etc/shadow');
    await refused([{ name: 'shadow', type: 'link', linkname: '/etc/shadow' }], /absolute path/);
    await refused([{ name: 'shadow', type: 'link', linkname: '../../../../../../etc/shadow' }], /escapes the root/);
    await refused([{ name: 'etc', type: 'symlink', linkname: '/etc' }, { name: 'shadow', type: 'link', linkname: 'etc/shadow' }], /parent "etc" is a symlink/);
    expect((await lstat('/etc/shadow')).nlink).toBe(shadow.nlink);
  });

  it('symlink loops are refused, never followed', async () => {
    await refused([{ name: 'a', type: 'symlink', linkname: 'b' }, { name: 'b', type: 'symlink', linkname: 'a' }, { name: 'a/x', content: 'x' }], /is a symlink/);
    await refused([{ name: 'self', type: 'symlink', linkname: 'self' }, { name: 'self/x', content: 'x' }], /is a symlink/);
  });

  it('a device node is refused when not privileged', async () => {
    await refused([{ name: 'sda', type: 'block', devmajor: 8, devminor: 0 }], /device nodes need a privileged apply/);
    await refused([{ name: 'mem', type: 'char', devmajor: 1, devminor: 1 }], /device nodes/);
  });

  it('a giant PAX header is refused before it is buffered', async () => {
    const huge = Buffer.alloc(8 << 20, 0x41);
    await expect(apply([{ name: 'x', content: 'x', xattrs: [['user.huge', huge]] }])).rejects.toSatisfy(
      (e: unknown) => e instanceof InvalidArgumentError && /extended header/.test((e as Error).message),
    );
  });

  it('a truncated gzip stream fails cleanly', async () => {
    const layer = buildLayer([{ name: 'f', content: Buffer.alloc(200_000, 7) }, { name: 'g', content: 'g' }]);
    const cut = layer.blob.subarray(0, Math.floor(layer.blob.length / 2));
    await expect(applyLayer(Readable.from([cut]), root, { compression: 'gzip', whiteouts: 'delete' })).rejects.toSatisfy(
      (e: unknown) => e instanceof InvalidArgumentError && /truncated|end of file/i.test((e as Error).message),
    );
  });

  it('with a host gzip decoder (BERTH_GUNZIP=gzip): applies, and a cut stream fails with its verdict', async () => {
    process.env.BERTH_GUNZIP = 'gzip';
    try {
      const r = await apply([{ name: 'd/', type: 'dir' }, { name: 'd/f', content: 'hello' }]);
      expect(r.diffId).toBe(r.layer.diffId);
      expect(await readFile(join(root, 'd/f'), 'utf8')).toBe('hello');
      const layer = buildLayer([{ name: 'f', content: Buffer.alloc(200_000, 7) }, { name: 'g', content: 'g' }]);
      const cut = layer.blob.subarray(0, Math.floor(layer.blob.length / 2));
      await expect(applyLayer(Readable.from([cut]), join(root, 'd'), { compression: 'gzip', whiteouts: 'delete' })).rejects.toSatisfy(
        (e: unknown) => e instanceof InvalidArgumentError && /truncated/i.test((e as Error).message),
      );
    } finally {
      delete process.env.BERTH_GUNZIP;
    }
  });

  it('reads the compression from the data, not from the media type, as dockerd and containerd do', async () => {
    // dockerd 20.10 pushes layers it pulled uncompressed under tar.gzip media types
    const entries: TestEntry[] = [{ name: 'd/', type: 'dir' }, { name: 'd/f', content: Buffer.alloc(70_000, 9) }];
    for (const [made, declared] of [['none', 'gzip'], ['gzip', 'none'], ['zstd', 'gzip'], ['gzip', 'zstd']] as const) {
      const layer = buildLayer(entries, made);
      const dir = join(root, `${made}-as-${declared}`);
      await mkdir(dir);
      // a byte at a time: the first bytes decide only once enough have come
      const chunks = [layer.blob.subarray(0, 1), layer.blob.subarray(1, 3), layer.blob.subarray(3)];
      const r = await applyLayer(Readable.from(chunks), dir, { compression: declared, whiteouts: 'delete' });
      expect(r.diffId, `${made} declared ${declared}`).toBe(layer.diffId);
      expect((await readFile(join(dir, 'd/f'))).equals(Buffer.alloc(70_000, 9))).toBe(true);
    }
    const empty = join(root, 'empty');
    await mkdir(empty);
    await expect(applyLayer(Readable.from([]), empty, { compression: 'gzip', whiteouts: 'delete' })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('a truncated tar fails cleanly', async () => {
    const layer = buildLayer([{ name: 'f', content: Buffer.alloc(200_000, 7) }], 'none');
    await expect(applyLayer(Readable.from([layer.tar.subarray(0, 100_000)]), root, { compression: 'none', whiteouts: 'delete' })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('a wrong diffID is refused', async () => {
    const other = buildLayer([{ name: 'other' }]);
    await expect(apply([{ name: 'f', content: 'f' }], { expectedDiffId: other.diffId })).rejects.toBeInstanceOf(DigestMismatchError);
  });

  it('entry count and size caps hold', async () => {
    await expect(apply([{ name: 'a' }, { name: 'b' }, { name: 'c' }], { limits: { maxEntries: 2 } })).rejects.toThrow(/more than 2 entries/);
    await expect(apply([{ name: 'big', content: Buffer.alloc(100_000) }], { limits: { maxBytes: 50_000 } })).rejects.toThrow(/larger than the limit/);
  });
});
