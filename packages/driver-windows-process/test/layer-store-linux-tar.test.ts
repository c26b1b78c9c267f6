/*
 * A Linux layer applied into the windowsfilter store through its apply target goes from
 * the tar straight to layer.vhd (hcs's layerVhdFromTar): the staging folder never holds a
 * file, and the disk keeps what a host file system would lose (owners, setuid, devices,
 * capabilities, whiteouts). A Windows base layer through the same target is told apart by
 * its first entry and imported as before; a wrong diffID is refused.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm, stat, truncate, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DigestMismatchError, digestOf } from '@berth/image-format';
import { layerVhdFromTar } from '@berth/hcs';
import { HcsSimulator } from '@berth/hcs/simulator';
import { applyToTarget } from '@berth/layer-store';
import { buildLayer, type TestEntry } from '@berth/layer-store/testsuite';
import { windowsBaseEntries, windowsLayerTar } from '@berth/fixtures';
import { WindowsLayerSnapshotter } from '../src/index.js';

const CAP = Buffer.from('0100000200040000000000000000000000000000', 'hex');

describe('WindowsLayerSnapshotter: Linux layers from the tar', () => {
  let work: string;
  let sim: HcsSimulator;
  let sn: WindowsLayerSnapshotter;

  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-winsn-tar-'));
    sim = new HcsSimulator({ onDisk: true });
    sn = await WindowsLayerSnapshotter.open(join(work, 'windowsfilter'), sim, {
      linuxLayerTar: (tar, folder, o) => layerVhdFromTar(tar, join(folder, 'layer.vhd'), o),
    });
  });
  afterEach(async () => {
    sn.close();
    sim.storage.removeHostDirs();
    await rm(work, { recursive: true, force: true });
  });

  async function apply(key: string, parent: string | undefined, blob: Buffer, diffId: string): Promise<string[]> {
    await sn.prepare(`${key}-active`, parent);
    const target = await sn.applyTarget(`${key}-active`);
    await applyToTarget(Readable.from([blob]), target, { compression: 'gzip', expectedDiffId: diffId as `sha256:${string}` });
    const staged = await readdir(target.dir);
    await sn.commit(key, `${key}-active`);
    return staged;
  }

  async function image(key: string): Promise<string> {
    const vhd = join((await sn.mounts(key))[0]!.source, 'layer.vhd');
    const img = join(work, `${key}.img`);
    await copyFile(vhd, img);
    await truncate(img, (await stat(vhd)).size - 512);
    execFileSync('e2fsck', ['-fn', img], { stdio: 'pipe' });
    return img;
  }
  const debugfs = (img: string, cmd: string) => execFileSync('debugfs', ['-R', cmd, img], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();

  it('writes a Linux base and child layer from their tars, with nothing staged on the host', async () => {
    const base: TestEntry[] = [
      { name: 'bin/', type: 'dir' },
      { name: 'bin/su', content: 'su', mode: 0o4755, uid: 0, gid: 0 },
      { name: 'bin/ping', content: 'ping', xattrs: [['security.capability', CAP]] },
      { name: 'home/app/', type: 'dir', uid: 1000, gid: 1000, mode: 0o700 },
      { name: 'dev/console', type: 'char', devmajor: 5, devminor: 1, mode: 0o600 },
      { name: 'etc/gone', content: 'x' },
    ];
    const l1 = buildLayer(base);
    expect(await apply('lbase', undefined, l1.blob, l1.diffId)).toEqual([]);
    const l2 = buildLayer([{ name: 'etc/.wh.gone', content: '' }, { name: 'etc/new', content: 'n', uid: 33 }]);
    expect(await apply('lchild', 'lbase', l2.blob, l2.diffId)).toEqual([]);
    // only the disk is kept, and HCS never imported anything
    expect(await readdir((await sn.mounts('lchild'))[0]!.source)).toEqual(['layer.vhd']);
    expect(sim.received.filter((r) => r.call === 'HcsImportLayer')).toHaveLength(0);

    const b = await image('lbase');
    expect(debugfs(b, 'stat /bin/su')).toMatch(/Mode:\s+04755/);
    expect(debugfs(b, 'ea_list /bin/ping')).toContain('security.capability (20)');
    expect(debugfs(b, 'stat /home/app')).toMatch(/Mode:\s+0700[\s\S]*User:\s+1000\s+Group:\s+1000/);
    expect(debugfs(b, 'stat /dev/console')).toMatch(/Device major\/minor number: 05:01/);
    const c = await image('lchild');
    expect(debugfs(c, 'stat /etc/gone')).toMatch(/Type: character special[\s\S]*Device major\/minor number: 00:00/);
    expect(debugfs(c, 'stat /etc/new')).toMatch(/User:\s+33/);
  });

  it('imports a Windows base layer applied through the same target', async () => {
    const tar = await windowsLayerTar(windowsBaseEntries());
    const { gzipSync } = await import('node:zlib');
    const staged = await apply('wbase', undefined, gzipSync(tar), digestOf(tar));
    expect(staged.map((n) => n.toLowerCase()).sort()).toEqual(expect.arrayContaining(['files', 'hives']));
    expect(sim.received.filter((r) => r.call === 'HcsImportLayer')).toHaveLength(1);
  });

  it('refuses a Linux layer whose tar is not the diffID the image names', async () => {
    const l = buildLayer([{ name: 'bin/sh', content: 'sh' }]);
    await expect(apply('bad', undefined, l.blob, digestOf(Buffer.from('other')))).rejects.toBeInstanceOf(DigestMismatchError);
  });
});
