/*
 * Security descriptors and alternate data streams through diff/commit and pull, as
 * go-winio's backuptar carries them: a container writes a file with an SD and a stream
 * `:zone:$DATA` (and a directory with an SD) through the simulator's BackupWrite; its
 * layer tar (HcsExportLayer, then BackupRead per file) has the PAX record MSWINDOWS.rawsd
 * (base64 of the self-relative SD) on both and the entry `Files/app/x.txt:zone` right after
 * the file; that tar applied as a layer (guarded extractor, SDs through BackupWrite) and
 * imported gives a layer folder whose file reads back (BackupRead) byte for byte as the
 * container's did, and whose export is the same tar records again.
 * What the simulator cannot show: that Windows' BackupRead/BackupWrite and HcsImportLayer
 * do the same with these bytes (see the README).
 */
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BACKUP_ALTERNATE_DATA, BACKUP_DATA, BACKUP_SECURITY_DATA, writeBackupStream, type BackupStreamPart } from '@berth/hcs';
import { HcsSimulator } from '@berth/hcs/simulator';
import { applyToTarget } from '@berth/layer-store';
import { WindowsLayerSnapshotter, parentLayerPaths } from '../src/index.js';
import { layerDataOf } from '../src/layers.js';
import { exportLayerTar } from '../src/layer-export.js';

/** O:BAG:SYD:(A;;FA;;;BA), self-relative, and a second one for the directory (D:(A;;FA;;;SY)). */
const SD_FILE = Buffer.from('010004801400000024000000000000003000000001020000000000052000000020020000010100000000000512000000020020000100000000001800ff011f0001020000000000052000000020020000', 'hex');
const SD_DIR = Buffer.from('01000480140000002400000000000000300000000102000000000005200000002002000001010000000000051200000002001c000100000000001400ff011f00010100000000000512000000', 'hex');

const parts = (sd: Buffer, data?: string, zone?: string): BackupStreamPart[] => [
  { header: { id: BACKUP_SECURITY_DATA, size: sd.length }, body: sd },
  ...(data !== undefined ? [{ header: { id: BACKUP_DATA, size: Buffer.byteLength(data) }, body: Buffer.from(data) }] : []),
  ...(zone !== undefined ? [{ header: { id: BACKUP_ALTERNATE_DATA, size: Buffer.byteLength(zone), name: ':zone:$DATA' }, body: Buffer.from(zone) }] : []),
];

async function bytes(r: AsyncIterable<Buffer | string>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of r) out.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(out);
}

interface Entry {
  name: string;
  type: string;
  size: number;
  pax: Record<string, string>;
  body: Buffer;
}

async function entries(t: Buffer): Promise<Entry[]> {
  const ex = tar.extract();
  Readable.from([t]).pipe(ex);
  const out: Entry[] = [];
  for await (const e of ex) out.push({ name: e.header.name, type: e.header.type ?? 'file', size: e.header.size ?? 0, pax: { ...(e.header.pax ?? {}) }, body: await bytes(e as AsyncIterable<Buffer>) });
  return out;
}

/** The records a round trip keeps (times are the disk's and change with every copy). */
const records = (es: Entry[]) => es.map((e) => ({ name: e.name, type: e.type, size: e.size, rawsd: e.pax['MSWINDOWS.rawsd'], fileattr: e.pax['MSWINDOWS.fileattr'], body: e.body.toString('hex') }));

describe('security descriptors and alternate data streams in Windows layer tars', () => {
  let work: string;
  let sim: HcsSimulator;
  let sn: WindowsLayerSnapshotter;

  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-winsd-'));
    sim = new HcsSimulator({ onDisk: true });
    sn = await WindowsLayerSnapshotter.open(join(work, 'windowsfilter'), sim);
  });
  afterEach(async () => {
    sn.close();
    sim.storage.removeHostDirs();
    await rm(work, { recursive: true, force: true });
  });

  it('survive export -> tar -> import -> export, in backuptar\'s records', async () => {
    expect(SD_FILE.length).toBe(80);
    expect(SD_DIR.length).toBe(76);
    await sn.prepare('base-active', undefined);
    const bt = await sn.applyTarget('base-active');
    await mkdir(join(bt.dir, 'Files'), { recursive: true });
    await sn.commit('base', 'base-active');

    // a container's scratch on the base, mounted: its C:\ on the host
    await sn.prepare('c1', 'base');
    const mounts = await sn.mounts('c1');
    const folder = mounts[0]!.source;
    const data = await layerDataOf(sim, parentLayerPaths(mounts)!);
    await sim.initializeWritableLayer(folder, data);
    const root = sim.volumeHostPath(await sim.mountWritableLayer(folder, data));
    await sim.backup.write(join(root, 'app'), writeBackupStream(parts(SD_DIR)), { directory: true });
    await sim.backup.write(join(root, 'app', 'x.txt'), writeBackupStream(parts(SD_FILE, 'hello', '[ZoneTransfer]\r\nZoneId=3\r\n')));
    const written = await bytes(sim.backup.read(join(root, 'app', 'x.txt')));

    const diff = await sn.diffSource('c1');
    if (diff.kind !== 'layer-tar') throw new Error('not a layer tar');
    const tar1 = await bytes(diff.tar());
    const first = await entries(tar1);
    expect(first.map((e) => [e.name, e.type])).toEqual([
      ['Files', 'directory'],
      ['Files/app', 'directory'],
      ['Files/app/x.txt', 'file'],
      ['Files/app/x.txt:zone', 'file'],
    ]);
    const [, app, x, zone] = first;
    // backuptar's records: the raw SD in base64 on the file and the directory, attributes beside
    expect(app!.pax['MSWINDOWS.rawsd']).toBe(SD_DIR.toString('base64'));
    expect(x!.pax['MSWINDOWS.rawsd']).toBe(SD_FILE.toString('base64'));
    expect(x!.pax['MSWINDOWS.fileattr']).toBe('32');
    expect(x!.body.toString()).toBe('hello');
    // the stream: its own entry right after its file, `:$DATA` left off, no records of its own
    expect(zone!.body.toString()).toBe('[ZoneTransfer]\r\nZoneId=3\r\n');
    expect(zone!.pax['MSWINDOWS.rawsd']).toBeUndefined();
    // the base has no descriptor: its directory has none in the tar either
    expect(first[0]!.pax['MSWINDOWS.rawsd']).toBeUndefined();

    // the tar as a pulled layer: extracted, SDs written back, imported by HCS
    await sn.prepare('imp-active', 'base');
    const target = await sn.applyTarget('imp-active');
    await applyToTarget(Readable.from([tar1]), target, { compression: 'none' });
    await sn.commit('imp', 'imp-active');
    const layer = (await sn.mounts('imp'))[0]!.source;
    expect((await readdir(join(layer, 'Files', 'app'))).sort()).toEqual(['x.txt', 'x.txt::$SD', 'x.txt:zone']);
    // the file as BackupRead gives it: the container's bytes, SD, data and stream alike
    expect((await bytes(sim.backup.read(join(layer, 'Files', 'app', 'x.txt')))).equals(written)).toBe(true);

    // and exported again: the same records
    const tar2 = await bytes(exportLayerTar(layer, async () => undefined, async () => undefined, sim.backup));
    expect(records(await entries(tar2))).toEqual(records(first));
  });

  it('writes no descriptor through a link: a layer whose file\'s folder becomes a link after it is refused', async () => {
    const pack = tar.pack();
    const sd = { 'MSWINDOWS.rawsd': SD_FILE.toString('base64') };
    pack.entry({ name: 'Files', type: 'directory', mode: 0o755 });
    pack.entry({ name: 'Files/d', type: 'directory', mode: 0o755 });
    pack.entry({ name: 'Files/l', type: 'directory', mode: 0o755 });
    pack.entry({ name: 'Files/l/y.txt', type: 'file', size: 1, mode: 0o644, pax: sd }, 'y');
    // the directory the descriptor's file was in becomes a link after it
    pack.entry({ name: 'Files/l', type: 'symlink', linkname: 'd', mode: 0o777 });
    pack.finalize();
    const t = await bytes(pack as AsyncIterable<Buffer>);
    await sn.prepare('bad-active', undefined);
    const target = await sn.applyTarget('bad-active');
    const err = await applyToTarget(Readable.from([t]), target, { compression: 'none' }).then(() => undefined, (e: unknown) => e as Error);
    // the extractor took every entry; the descriptor's path, resolved in the root, is refused
    expect(err?.message).toMatch(/parent "Files\/l" is a symlink/);
    // nothing was written beside the link's target
    expect(await readdir(join(target.dir, 'Files', 'd')).catch(() => [])).not.toContain('y.txt::$SD');
  });
});
