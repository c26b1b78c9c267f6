/*
 * WindowsLayerSnapshotter over HcsSimulator({ onDisk: true }): the Snapshotter contract's
 * rules (keys, parents, kinds, labels, walk order, removal) as layer-store's suite states
 * them, and what HCS is asked: each commit an HcsImportLayer of the staging folder over
 * the parent chain (topmost first, base last, as the simulator checks), removal an
 * HcsDestroyLayer. layer-store's mount-based suite is not run: a windows-layer mount
 * cannot be mounted on Linux (what a container sees of its layers is HCS's on Windows).
 */
import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, InvalidArgumentError, NotFoundError } from '@berth/image-format';
import { HcsSimulator } from '@berth/hcs/simulator';
import { applyLayer } from '@berth/layer-store';
import { windowsBaseEntries, windowsLayerTar, windowsTopEntries } from '@berth/fixtures';
import { WindowsLayerSnapshotter, parentLayerPaths } from '../src/index.js';

describe('WindowsLayerSnapshotter (windowsfilter) over the HCS simulator', () => {
  let work: string;
  let sim: HcsSimulator;
  let sn: WindowsLayerSnapshotter;
  const imports = () => sim.received.filter((r) => r.call === 'HcsImportLayer').map((r) => (r.document as { Layers: { Path: string }[] }).Layers.map((l) => l.Path));

  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-winsn-'));
    sim = new HcsSimulator({ onDisk: true });
    sn = await WindowsLayerSnapshotter.open(join(work, 'windowsfilter'), sim);
  });
  afterEach(async () => {
    sn.close();
    sim.storage.removeHostDirs();
    await rm(work, { recursive: true, force: true });
  });

  async function layer(key: string, parent: string | undefined, files: Record<string, string> = {}): Promise<string> {
    await sn.prepare(`${key}-active`, parent);
    const target = await sn.applyTarget(`${key}-active`);
    for (const [p, body] of Object.entries(files)) {
      await mkdir(join(target.dir, p, '..'), { recursive: true });
      await writeFile(join(target.dir, p), body);
    }
    await sn.commit(key, `${key}-active`);
    return key;
  }

  it('commits import the staging folder over the parent chain, topmost first', async () => {
    await layer('base', undefined, { 'Files/License.txt': 'x', 'UtilityVM/Files/EFI/boot.efi': 'b' });
    await layer('mid', 'base', { 'Files/app/a.txt': 'a' });
    await layer('top', 'mid', { 'Files/app/b.txt': 'b' });
    const [baseF, midF, topF] = [parentLayerPaths(await sn.mounts('base')), parentLayerPaths(await sn.mounts('mid')), parentLayerPaths(await sn.mounts('top'))];
    expect(baseF).toEqual([]);
    expect(midF).toHaveLength(1);
    expect(topF).toEqual([(await sn.mounts('mid'))[0]!.source, midF![0]]);
    expect(imports()).toEqual([[], midF, topF]);
    // the simulator took the base as a bootable base layer, and the others over it
    expect(sim.storage.layer(midF![0]!)).toMatchObject({ parents: [], utilityVm: true, os: 'windows' });
    expect(await readFile(join((await sn.mounts('top'))[0]!.source, 'Files/app/b.txt'), 'utf8')).toBe('b');
  });

  it('a container snapshot is a windows-layer mount the drivers read the layers from', async () => {
    await layer('base', undefined, { 'Files/x': 'x' });
    await layer('top', 'base', { 'Files/y': 'y' });
    const mounts = await sn.prepare('ctr', 'top', { labels: { 'berth.engine/kind': 'container' } });
    expect(mounts).toHaveLength(1);
    expect(mounts[0]!.type).toBe('windows-layer');
    expect(mounts[0]!.options).toEqual([`parentLayerPaths=${JSON.stringify([(await sn.mounts('top'))[0]!.source, (await sn.mounts('base'))[0]!.source])}`]);
    expect(await sn.mounts('ctr')).toEqual(mounts);
    expect((await sn.view('v', 'top'))[0]!.options[0]).toBe('ro');
  });

  it('keeps the contract: keys, parents, kinds, labels', async () => {
    await sn.prepare('a', undefined, { labels: { l: '1' } });
    expect(await sn.stat('a')).toMatchObject({ key: 'a', kind: 'active', labels: { l: '1' } });
    await sn.commit('c', 'a', { labels: { m: '2' } });
    expect(await sn.stat('c')).toMatchObject({ key: 'c', kind: 'committed', labels: { l: '1', m: '2' } });
    await expect(sn.stat('a')).rejects.toBeInstanceOf(NotFoundError);
    await sn.view('v', 'c');
    expect(await sn.stat('v')).toMatchObject({ kind: 'view', parent: 'c' });
    await expect(sn.prepare('x', 'missing')).rejects.toBeInstanceOf(NotFoundError);
    await expect(sn.prepare('v', 'c')).rejects.toBeInstanceOf(ConflictError);
    await sn.prepare('open', 'c');
    await expect(sn.prepare('child-of-active', 'open')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(sn.commit('c', 'open')).rejects.toBeInstanceOf(ConflictError);
    await expect(sn.commit('x', 'v')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(sn.applyTarget('v')).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('walk lists parents first; remove refuses a parent and destroys the layer', async () => {
    await layer('l1', undefined);
    await layer('l2', 'l1');
    await sn.prepare('act', 'l2');
    await sn.view('vw', 'l1');
    expect((await sn.walk()).map((s) => [s.key, s.parent ?? null, s.kind])).toEqual([
      ['l1', null, 'committed'],
      ['l2', 'l1', 'committed'],
      ['act', 'l2', 'active'],
      ['vw', 'l1', 'view'],
    ]);
    await expect(sn.remove('l1')).rejects.toBeInstanceOf(ConflictError);
    const l2 = (await sn.mounts('l2'))[0]!.source;
    await sn.remove('act');
    await sn.remove('vw');
    await sn.remove('l2');
    expect(sim.storage.layer(l2)).toBeUndefined();
    expect(existsSync(l2)).toBe(false);
    await sn.remove('l1');
    expect(await sn.walk()).toEqual([]);
    expect(await readdir(join(work, 'windowsfilter'))).toEqual(['snapshots.json']);
    await expect(sn.remove('l1')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('survives a reopen: the same snapshots over the same folders', async () => {
    await layer('base', undefined, { 'Files/x': 'x' });
    await sn.prepare('act', 'base', { labels: { k: 'v' } });
    const before = await sn.walk();
    sn.close();
    sn = await WindowsLayerSnapshotter.open(join(work, 'windowsfilter'), sim);
    expect(await sn.walk()).toEqual(before);
    await layer('next', 'base');
    expect(imports().at(-1)).toEqual(parentLayerPaths(await sn.mounts('next')));
  });

  it('a Windows layer tar lands in staging through the guarded extractor with its .wh. entries kept for the importer', async () => {
    await sn.prepare('b-active');
    const t = await sn.applyTarget('b-active');
    expect(t.whiteouts).toBe('keep');
    await applyLayer(Readable.from([await windowsLayerTar(windowsBaseEntries())]), t.dir, { compression: 'none', whiteouts: t.whiteouts });
    await sn.commit('base', 'b-active');
    await sn.prepare('t-active', 'base');
    const t2 = await sn.applyTarget('t-active');
    await applyLayer(Readable.from([await windowsLayerTar(windowsTopEntries())]), t2.dir, { compression: 'none', whiteouts: t2.whiteouts });
    expect((await readdir(join(t2.dir, 'Files'))).sort()).toEqual(['.wh.License.txt', 'app']);
    await sn.commit('top', 't-active');
    const baseFolder = (await sn.mounts('base'))[0]!.source;
    expect(sim.storage.layer(baseFolder)).toMatchObject({ utilityVm: true });
    expect(existsSync(join(baseFolder, 'UtilityVM', 'SystemTemplate.vhdx'))).toBe(true);
  });

  it('HCS refuses a chain whose folder is gone (ERROR_PATH_NOT_FOUND), and nothing is committed', async () => {
    await layer('base', undefined);
    await rm((await sn.mounts('base'))[0]!.source, { recursive: true });
    await sn.prepare('t-active', 'base');
    await expect(sn.commit('top', 't-active')).rejects.toMatchObject({ message: expect.stringMatching(/ERROR_PATH_NOT_FOUND/) });
    expect(await sn.stat('t-active')).toMatchObject({ kind: 'active' });
  });
});
