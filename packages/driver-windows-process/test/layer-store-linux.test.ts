/*
 * A Linux image's layers in the windowsfilter store (LCOW): a base layer with neither
 * Files\ nor Hives\ and its children go to the linuxLayer writer, never to HcsImportLayer;
 * a Windows layer beside them is imported as before; removal of a Linux layer is the
 * folder's alone; without a writer a Linux layer is refused.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HcsSimulator } from '@berth/hcs/simulator';
import { WindowsLayerSnapshotter } from '../src/index.js';

describe('WindowsLayerSnapshotter with Linux layers', () => {
  let work: string;
  let sim: HcsSimulator;
  let written: { staging: string[]; folder: string }[];
  let sn: WindowsLayerSnapshotter;

  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-winsn-linux-'));
    sim = new HcsSimulator({ onDisk: true });
    written = [];
    sn = await WindowsLayerSnapshotter.open(join(work, 'windowsfilter'), sim, {
      linuxLayer: async (staging, folder) => {
        written.push({ staging: (await readdir(staging)).sort(), folder });
        await writeFile(join(folder, 'layer.vhd'), 'ext4');
      },
    });
  });
  afterEach(async () => {
    sn.close();
    sim.storage.removeHostDirs();
    await rm(work, { recursive: true, force: true });
  });

  async function layer(store: WindowsLayerSnapshotter, key: string, parent: string | undefined, files: Record<string, string>): Promise<void> {
    await store.prepare(`${key}-active`, parent);
    const target = await store.applyTarget(`${key}-active`);
    for (const [p, body] of Object.entries(files)) {
      await mkdir(join(target.dir, p, '..'), { recursive: true });
      await writeFile(join(target.dir, p), body);
    }
    await store.commit(key, `${key}-active`);
  }

  it('writes Linux layers (a base without Files\\ or Hives\\, and its children, even empty ones) and imports Windows ones', async () => {
    await layer(sn, 'lbase', undefined, { 'bin/sh': 'sh', 'etc/passwd': 'root' });
    await layer(sn, 'lchild', 'lbase', {});
    await layer(sn, 'wbase', undefined, { 'Files/License.txt': 'x', 'Hives/System_Delta': 'h' });
    expect(written.map((w) => w.staging)).toEqual([['bin', 'etc'], []]);
    const imports = sim.received.filter((r) => r.call === 'HcsImportLayer');
    expect(imports).toHaveLength(1);
    const folder = (await sn.mounts('lchild'))[0]!.source;
    expect(await readFile(join(folder, 'layer.vhd'), 'utf8')).toBe('ext4');
    // the staging folder is gone: only the disk is kept
    expect(await readdir(folder)).toEqual(['layer.vhd']);
    // HCS never knew it as a layer, so removal does not ask it to destroy one
    expect(sim.storage.layer(folder)).toBeUndefined();
    await sn.remove('lchild');
    await sn.remove('lbase');
    expect(existsSync(folder)).toBe(false);
  });

  it('refuses a Linux layer without a writer', async () => {
    const plain = await WindowsLayerSnapshotter.open(join(work, 'plain'), sim);
    await expect(layer(plain, 'l', undefined, { 'bin/sh': 'sh' })).rejects.toMatchObject({ code: 'Unsupported' });
  });
});
