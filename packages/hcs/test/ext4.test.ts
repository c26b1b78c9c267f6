/*
 * The ext4 an LCOW guest mounts, checked by e2fsprogs (e2fsck -fn finds nothing to fix;
 * debugfs reads back what was written): a layer with every kind of entry, Docker
 * whiteouts turned into overlayfs ones, a file larger than a block group (its extents
 * step over the group's superblock copy), a 20 GiB scratch that is sparse on disk, and
 * the fixed VHD footer HCS reads.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, chown, link, mkdir, open, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { emptyExt4Vhd, layerVhdFromDir, vhdFooter } from '../src/index.js';
import { readFromLayers } from '../src/simulator/index.js';
import { debugfs, debugfsBytes, fsck, tempDirs } from './ext4-support.js';

const temp = tempDirs('berth-ext4-');

describe('ext4 for LCOW', () => {
  it('writes a layer e2fsck passes: files, modes and owners, hard and soft links, devices, FIFOs, whiteouts as overlayfs has them', async () => {
    const d = await temp();
    const src = join(d, 'src');
    await mkdir(join(src, 'usr/bin'), { recursive: true });
    await mkdir(join(src, 'opaque'), { recursive: true });
    await writeFile(join(src, 'usr/bin/tool'), 'tool\n');
    await chown(join(src, 'usr/bin/tool'), 1234, 5678);
    await chmod(join(src, 'usr/bin/tool'), 0o4755); // after chown, which clears setuid
    await link(join(src, 'usr/bin/tool'), join(src, 'usr/bin/alias'));
    await symlink('tool', join(src, 'usr/bin/short'));
    await symlink('x'.repeat(100), join(src, 'usr/bin/long'));
    await writeFile(join(src, 'opaque/.wh..wh..opq'), '');
    await writeFile(join(src, '.wh.removed'), '');
    execFileSync('mknod', [join(src, 'null'), 'c', '1', '3']);
    execFileSync('mkfifo', [join(src, 'fifo')]);
    const vhd = join(d, 'layer.vhd');
    const size = await layerVhdFromDir(src, vhd);
    expect((await stat(vhd)).size).toBe(size);
    const img = await fsck(vhd);
    const ls = debugfs(img, 'ls -l /usr/bin');
    expect(ls).toMatch(/104755 \(1\)\s+1234\s+5678\s+5 .* alias/);
    expect(ls).toMatch(/104755 \(1\)\s+1234\s+5678\s+5 .* tool/);
    expect(debugfs(img, 'stat /usr/bin/tool')).toMatch(/Links: 2/);
    expect(debugfs(img, 'cat /usr/bin/alias')).toBe('tool\n');
    expect(debugfs(img, 'stat /usr/bin/long')).toMatch(/Size: 100/);
    expect(debugfs(img, 'stat /usr/bin/short')).toMatch(/Fast link dest: "tool"/);
    const root = debugfs(img, 'ls -l /');
    expect(root).toMatch(/20644 \(3\)\s+0\s+0\s+0 .* removed/); // the whiteout: char 0/0
    expect(root).not.toMatch(/\.wh\./);
    expect(debugfs(img, 'stat /null')).toMatch(/Device major\/minor number: 01:03/);
    expect(root).toMatch(/10644 \(5\).* fifo/);
    expect(debugfs(img, 'ea_list /opaque')).toContain('trusted.overlay.opaque (1) = "y"');
    expect(debugfs(img, 'ls /opaque')).not.toContain('.wh.');
  });

  it('streams a file larger than a block group; its extents step over the group\'s superblock copy', async () => {
    const d = await temp();
    const src = join(d, 'src');
    await mkdir(src);
    const hash = createHash('sha256');
    const chunk = Buffer.alloc(1 << 20);
    const fh = await open(join(src, 'huge'), 'w');
    for (let i = 0; i < 130; i++) {
      chunk.fill(i);
      chunk.writeUInt32LE(i, 0);
      hash.update(chunk);
      await fh.write(chunk);
    }
    await fh.close();
    const vhd = join(d, 'layer.vhd');
    await layerVhdFromDir(src, vhd);
    const img = await fsck(vhd);
    expect(createHash('sha256').update(debugfsBytes(img, 'cat /huge')).digest('hex')).toBe(hash.digest('hex'));
    expect(debugfs(img, 'stat /huge')).toMatch(/EXTENTS:\n\(0-\d+\):\d+-32767, \(\d+-33279\):32773-/);
  }, 60_000);

  it('an empty 20 GiB scratch: clean, sparse on disk, with a fixed VHD footer HCS reads', async () => {
    const d = await temp();
    const vhd = join(d, 'sandbox.vhd');
    const size = await emptyExt4Vhd(vhd, 20 * 2 ** 30);
    expect(size).toBe(20 * 2 ** 30 + 512);
    expect((await stat(vhd)).blocks * 512).toBeLessThan(16 << 20);
    await fsck(vhd);
    const footer = Buffer.alloc(512);
    const fh = await open(vhd, 'r');
    await fh.read(footer, 0, 512, size - 512);
    await fh.close();
    expect(footer.subarray(0, 8).toString()).toBe('conectix');
    expect(footer.readBigUInt64BE(48)).toBe(BigInt(20 * 2 ** 30));
    expect(footer.readUInt32BE(60)).toBe(2); // fixed
    expect(footer).toEqual(vhdFooter(20 * 2 ** 30));
    // the checksum is the one's complement of the byte sum without it
    const sum = [...footer].reduce((s, b, i) => (i >= 64 && i < 68 ? s : s + b), 0);
    expect(footer.readUInt32BE(64)).toBe(~sum >>> 0);
  });

  it("reads back as the simulated guest's overlay does: upper over lower, a whiteout hiding what is below, data past one extent", async () => {
    const d = await temp();
    await mkdir(join(d, 'lower/etc'), { recursive: true });
    await writeFile(join(d, 'lower/etc/a'), 'lower a\n');
    await writeFile(join(d, 'lower/etc/b'), 'lower b\n');
    const big = Buffer.alloc(5 * 4096 + 7, 0x5a);
    await writeFile(join(d, 'lower/big'), big);
    await mkdir(join(d, 'upper/etc'), { recursive: true });
    await writeFile(join(d, 'upper/etc/.wh.b'), '');
    await writeFile(join(d, 'upper/etc/c'), 'upper c\n');
    await layerVhdFromDir(join(d, 'lower'), join(d, 'lower.vhd'));
    await layerVhdFromDir(join(d, 'upper'), join(d, 'upper.vhd'));
    const layers = [join(d, 'upper.vhd'), join(d, 'lower.vhd')];
    expect(readFromLayers(layers, '/etc/a')?.toString()).toBe('lower a\n');
    expect(readFromLayers(layers, '/etc/c')?.toString()).toBe('upper c\n');
    expect(readFromLayers(layers, '/etc/b')).toBeUndefined();
    expect(readFromLayers([join(d, 'lower.vhd')], '/etc/b')?.toString()).toBe('lower b\n');
    expect(readFromLayers(layers, '/big')).toEqual(big);
    expect(readFromLayers(layers, '/etc')).toBeUndefined();
  });
});
