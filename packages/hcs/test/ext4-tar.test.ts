/*
 * A Linux layer's ext4 made straight from its tar (layerVhdFromTar, hcsshim's tar2ext4):
 * every kind of entry read back by debugfs and by the kernel (a read-only loop mount) with
 * what the tar said (nothing passes through a host file system), e2fsck -fn clean; a 1 GiB layer converted in bounded memory; the
 * hostile-archive corpus refused as the guarded extractor refuses it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { buildTar, hostileCorpus } from '@berth/layer-store/testsuite';
import { describe, expect, it } from 'vitest';
import { layerVhdFromTar } from '../src/index.js';
import { debugfs, fsck, tempDirs, withKernelMount } from './ext4-support.js';

const temp = tempDirs('berth-ext4tar-');

/** A ustar header for a file of `size` bytes (the data follows separately). */
function fileHeader(name: string, size: number | bigint): Buffer {
  const h = Buffer.from(buildTar([{ name, content: '' }]).subarray(0, 512));
  if (typeof size === 'bigint') {
    // base-256, as tar writes sizes over 8 GiB
    h.fill(0, 124, 136);
    h[124] = 0x80;
    for (let i = 135, v = size; i > 124; i--, v >>= 8n) h[i] = Number(v & 0xffn);
  } else h.write(size.toString(8).padStart(11, '0') + '\0', 124, 12, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return h;
}

// security.capability v2: cap_net_bind_service (bit 10) permitted and effective
const CAP = Buffer.from('0100000200040000000000000000000000000000', 'hex');

describe('layerVhdFromTar', () => {
  it('keeps what the tar says: owners, setuid/sticky modes, mtimes, links, devices, FIFOs, xattrs, whiteouts as overlayfs ones', async () => {
    const d = await temp();
    const mtime = 1_600_000_000;
    const tar = buildTar([
      { name: './', type: 'dir', mode: 0o755, mtime },
      { name: 'usr/', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime },
      { name: 'usr/bin/', type: 'dir', mode: 0o755, mtime },
      { name: 'usr/bin/tool', content: 'tool\n', mode: 0o4755, uid: 1234, gid: 5678, mtime: 1_500_000_000 },
      { name: 'usr/bin/ping', content: 'ping\n', mode: 0o755, xattrs: [['security.capability', CAP]] },
      { name: 'usr/bin/alias', type: 'link', linkname: 'usr/bin/tool' },
      { name: 'usr/bin/short', type: 'symlink', linkname: '../lib/x' },
      { name: 'usr/bin/long', type: 'symlink', linkname: '/' + 'y'.repeat(99) },
      { name: 'tmp/', type: 'dir', mode: 0o1777, mtime },
      { name: 'data', content: 'd', uid: 70000, gid: 80000, xattrs: [['user.note', Buffer.from('hello')], ['trusted.overlay.opaque', Buffer.from('y')]] },
      { name: 'dev/', type: 'dir', mode: 0o755 },
      { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'dev/sda', type: 'block', devmajor: 8, devminor: 0, mode: 0o660, gid: 6 },
      { name: 'dev/big', type: 'char', devmajor: 300, devminor: 70000, mode: 0o600 },
      { name: 'run/fifo', type: 'fifo', mode: 0o620 },
      { name: 'opaque/.wh..wh..opq', content: '' },
      { name: 'opaque/', type: 'dir', mode: 0o750, uid: 5 },
      { name: 'opaque/kept', content: 'k' },
      { name: 'etc/.wh.removed', content: '', uid: 7, mode: 0o644 },
    ]);
    const vhd = join(d, 'layer.vhd');
    const r = await layerVhdFromTar(Readable.from([gzipSync(tar)]), vhd, { compression: 'gzip' });
    expect((await stat(vhd)).size).toBe(r.vhdBytes);
    expect(r.size).toBe(tar.length);
    expect(r.digest).toMatch(/^sha256:/);
    const img = await fsck(vhd);

    const bin = debugfs(img, 'ls -l /usr/bin');
    expect(bin).toMatch(/104755 \(1\)\s+1234\s+5678\s+5 .* alias/);
    expect(bin).toMatch(/104755 \(1\)\s+1234\s+5678\s+5 .* tool/);
    const tool = debugfs(img, 'stat /usr/bin/tool');
    expect(tool).toMatch(/Links: 2/);
    expect(tool).toMatch(/mtime: 0x59682f00/); // 1_500_000_000
    expect(debugfs(img, 'cat /usr/bin/alias')).toBe('tool\n');
    expect(debugfs(img, 'stat /usr/bin/short')).toMatch(/Fast link dest: "\.\.\/lib\/x"/);
    expect(debugfs(img, 'cat /usr/bin/long')).toBe('/' + 'y'.repeat(99));
    expect(debugfs(img, 'ea_list /usr/bin/ping')).toContain('security.capability (20) = 01 00 00 02 00 04 00 00');
    expect(debugfs(img, 'stat /tmp')).toMatch(/Mode:\s+01777/);
    const data = debugfs(img, 'stat /data');
    expect(data).toMatch(/User:\s+70000\s+Group:\s+80000/);
    // user.* kept; trusted.overlay.* never taken from a tar (the extractor's rule)
    const dataEa = debugfs(img, 'ea_list /data');
    expect(dataEa).toContain('user.note (5) = "hello"');
    expect(dataEa).not.toContain('overlay');
    expect(debugfs(img, 'stat /dev/null')).toMatch(/Type: character special[\s\S]*Device major\/minor number: 01:03/);
    expect(debugfs(img, 'stat /dev/sda')).toMatch(/Type: block special[\s\S]*Group:\s+6[\s\S]*Device major\/minor number: 08:00/);
    expect(debugfs(img, 'stat /dev/big')).toMatch(/Device major\/minor number: 300:70000/);
    expect(debugfs(img, 'stat /run/fifo')).toMatch(/Type: FIFO\s+Mode:\s+0620/);
    // the opaque marker came before its directory: both the xattr and the directory's own metadata stay
    expect(debugfs(img, 'ea_list /opaque')).toContain('trusted.overlay.opaque (1) = "y"');
    expect(debugfs(img, 'stat /opaque')).toMatch(/Mode:\s+0750[\s\S]*User:\s+5/);
    expect(debugfs(img, 'ls /opaque')).not.toContain('.wh.');
    expect(debugfs(img, 'stat /etc/removed')).toMatch(/Type: character special\s+Mode:\s+0000[\s\S]*User:\s+0\s+Group:\s+0[\s\S]*Device major\/minor number: 00:00/);
    expect(debugfs(img, 'ls /etc')).not.toContain('.wh.');

    // the kernel's own ext4 reads the same (stat: type, mode, owner, device numbers; xattrs)
    await withKernelMount(img, (root) => {
      const st = (p: string) => execFileSync('stat', ['-c', '%F %a %u %g %t:%T', join(root, p)], { encoding: 'utf8' }).trim();
      expect(st('usr/bin/tool')).toBe('regular file 4755 1234 5678 0:0');
      expect(st('data')).toBe('regular file 644 70000 80000 0:0');
      expect(st('dev/null')).toBe('character special file 666 0 0 1:3');
      expect(st('etc/removed')).toBe('character special file 0 0 0 0:0');
      expect(st('tmp')).toBe('directory 1777 0 0 0:0');
      expect(readlinkSync(join(root, 'usr/bin/long'))).toBe('/' + 'y'.repeat(99));
      const xattr = (p: string, n: string) => execFileSync('getfattr', ['-h', '--only-values', '--absolute-names', '-n', n, join(root, p)]);
      expect(xattr('usr/bin/ping', 'security.capability')).toEqual(CAP);
      expect(xattr('opaque', 'trusted.overlay.opaque').toString()).toBe('y');
      expect(readFileSync(join(root, 'usr/bin/alias'), 'utf8')).toBe('tool\n');
    });
  });

  it('streams a 1 GiB layer of big files in bounded memory', async () => {
    const d = await temp();
    const chunk = Buffer.alloc(1 << 20, 0x5a);
    const files = 4;
    const each = 256 << 20;
    async function* layer(): AsyncIterable<Buffer> {
      for (let f = 0; f < files; f++) {
        yield fileHeader(`big${f}`, each);
        for (let n = 0; n < each; n += chunk.length) yield chunk;
      }
      yield Buffer.alloc(1024);
    }
    const base = process.memoryUsage().rss;
    let peak = base;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const vhd = join(d, 'big.vhd');
    try {
      const r = await layerVhdFromTar(Readable.from(layer()), vhd);
      expect(r.contentSize).toBe(files * each);
    } finally {
      clearInterval(timer);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    // the data went to disk as it came: the process grew by far less than the layer
    expect((peak - base) / 2 ** 20).toBeLessThan(96);
    const img = await fsck(vhd);
    expect(debugfs(img, 'stat /big3')).toMatch(/Size: 268435456/);
  }, 300_000);

  it('refuses the hostile-archive corpus as the guarded extractor does, and leaves no disk behind', async () => {
    const d = await temp();
    const outcomes: string[] = [];
    for (const c of hostileCorpus(join(d, 'outside'))) {
      const vhd = join(d, `${c.id}.vhd`);
      const verdict = await layerVhdFromTar(Readable.from([c.tar]), vhd).then(
        () => 'contained',
        (err: Error) => `refused: ${err.message}`,
      );
      outcomes.push(`${c.id}: ${verdict}`);
      if (verdict !== 'contained') await expect(stat(vhd)).rejects.toMatchObject({ code: 'ENOENT' });
    }
    const contained = outcomes.filter((o) => o.endsWith(': contained')).map((o) => o.split(':')[0]);
    // as the extractor's corpus test, but device nodes are only inode fields in an image (no privilege needed)
    expect(contained.sort(), outcomes.join('\n')).toEqual(['devices', 'file-over-symlink', 'hardlink-to-symlink']);
    // what is contained replaced the link instead of writing through it
    const img = await fsck(join(d, 'file-over-symlink.vhd'));
    expect(debugfs(img, 'stat /to-marker')).toMatch(/Type: regular/);
    expect(debugfs(img, 'cat /to-marker')).toBe('replaces the link');
  });

  it('refuses an absurd size before reading any data', async () => {
    const d = await temp();
    const vhd = join(d, 'absurd.vhd');
    // claims 1 TiB, brings 1 KiB
    const tar = Buffer.concat([fileHeader('huge', 1n << 40n), Buffer.alloc(2048)]);
    await expect(layerVhdFromTar(Readable.from([tar]), vhd)).rejects.toThrow(/more than the ext4 disk holds/);
    await expect(stat(vhd)).rejects.toMatchObject({ code: 'ENOENT' });
    // and a tar over the byte cap is refused by the same guard as the extractor's
    const many = buildTar([{ name: 'a', content: Buffer.alloc(10_000) }]);
    await expect(layerVhdFromTar(Readable.from([many]), vhd, { limits: { maxBytes: 4096 } })).rejects.toThrow(/larger than the limit/);
  });
});
