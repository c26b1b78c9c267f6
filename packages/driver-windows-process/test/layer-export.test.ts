/*
 * An HcsExportLayer folder (Files\, tombstones.txt) read back: the change list as dockerd
 * on Windows gives it, the Windows layer tar (PAX records, .wh. entries, bytes as on disk),
 * and the merged tree of docker export (whiteouts hide only what is below them, tombstones
 * everything, streams and hostile tombstone paths left out); the export folder goes once read.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { afterAll, describe, expect, it } from 'vitest';
import { exportChanges, exportLayerTar } from '../src/layer-export.js';
import { mergedTree, treeTar } from '../src/tree-export.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function folder(files: Record<string, string | null>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'berth-export-'));
  dirs.push(root);
  for (const [rel, body] of Object.entries(files)) {
    const abs = join(root, rel);
    if (body === null) await mkdir(abs, { recursive: true });
    else {
      await mkdir(join(abs, '..'), { recursive: true });
      await writeFile(abs, body);
    }
  }
  return root;
}

async function entries(t: Readable): Promise<{ name: string; type: string; pax: Record<string, string>; body: Buffer }[]> {
  const ex = tar.extract();
  t.on('error', (err) => ex.destroy(err));
  t.pipe(ex);
  const out = [];
  for await (const e of ex) {
    const chunks: Buffer[] = [];
    for await (const c of e) chunks.push(c as Buffer);
    out.push({ name: e.header.name, type: e.header.type ?? 'file', pax: { ...(e.header.pax ?? {}) }, body: Buffer.concat(chunks) });
  }
  return out;
}

const TOMBSTONES = '\ufeffVersion 1.0\n\\Files\\Windows\\notepad.exe\n\\Files\\..\\..\\etc\\passwd\n';

describe('an HcsExportLayer folder', () => {
  it('lists C for every file and directory, D for every tombstone, with layer paths', async () => {
    const root = await folder({ 'Files/app/a.txt': 'a', 'Files/app/sub': null, 'Hives/Software_Delta': 'regf', 'tombstones.txt': TOMBSTONES });
    expect(await exportChanges(root)).toEqual([
      { path: 'Files', kind: 'modified' },
      { path: 'Files/Windows/notepad.exe', kind: 'deleted' },
      { path: 'Files/app', kind: 'modified' },
      { path: 'Files/app/a.txt', kind: 'modified' },
      { path: 'Files/app/sub', kind: 'modified' },
      { path: 'Hives', kind: 'modified' },
      { path: 'Hives/Software_Delta', kind: 'modified' },
    ]);
  });

  it('becomes a Windows layer tar: PAX attributes, bytes as on disk, deletes as .wh. entries; the folder goes', async () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const root = await folder({ 'Files/app/bin.dat': bytes.toString('latin1'), 'tombstones.txt': TOMBSTONES });
    await writeFile(join(root, 'Files/app/bin.dat'), bytes);
    const got = await entries(exportLayerTar(root, async () => undefined, () => rm(root, { recursive: true, force: true })));
    expect(got.map((e) => [e.name, e.type])).toEqual([
      ['Files', 'directory'],
      ['Files/app', 'directory'],
      ['Files/app/bin.dat', 'file'],
      ['Files/Windows/.wh.notepad.exe', 'file'],
    ]);
    expect(got[0]!.pax['MSWINDOWS.fileattr']).toBe('16');
    expect(got[2]!.pax['MSWINDOWS.fileattr']).toBe('32');
    expect(got[2]!.pax['LIBARCHIVE.creationtime']).toMatch(/^\d+\.\d{7}$/);
    expect(got[2]!.body.equals(bytes)).toBe(true);
    expect(existsSync(root)).toBe(false);
  });

  it('fails the tar when the export fails, and still removes the folder', async () => {
    const root = await folder({});
    const t = exportLayerTar(root, async () => Promise.reject(new Error('HCS_E_INVALID_STATE')), () => rm(root, { recursive: true, force: true }));
    await expect(entries(t)).rejects.toThrow(/HCS_E_INVALID_STATE/);
    expect(existsSync(root)).toBe(false);
  });
});

describe('docker export of a Windows container: the merged tree', () => {
  it('upper layers win; a whiteout hides what is below it (not its own layer); tombstones hide all; streams are left out', async () => {
    const scratch = await folder({ 'app/new.txt': 'new', 'app/hello.txt': 'changed' });
    const top = await folder({ 'app/hello.txt': 'hello', '.wh.License.txt': '', 'tools/.wh.old': '', 'tools/old': 'kept in its own layer' });
    const base = await folder({ 'License.txt': 'license', 'tools/old': 'hidden', 'Windows/System32/cmd.exe': 'MZ', 'Windows/System32/cmd.exe:Zone.Identifier': 'zone', 'Windows/notepad.exe': 'MZ' });
    await symlink('C:\\Users', join(base, 'Documents and Settings'));
    const tree = await mergedTree([scratch, top, base], ['Windows/System32']);
    expect([...tree.keys()].sort()).toEqual(['Documents and Settings', 'License.txt', 'Windows', 'Windows/notepad.exe', 'app', 'app/hello.txt', 'app/new.txt', 'tools', 'tools/old'].filter((n) => n !== 'License.txt'));
    expect(tree.get('app/hello.txt')!.abs).toBe(join(scratch, 'app/hello.txt'));
    expect(tree.get('tools/old')!.abs).toBe(join(top, 'tools/old'));

    const got = await entries(treeTar(async () => ({ roots: [scratch, top, base], deleted: ['Windows/System32'] }), async () => undefined));
    expect(got.find((e) => e.name === 'Documents and Settings')).toMatchObject({ type: 'symlink' });
    expect(got.find((e) => e.name === 'app/hello.txt')!.body.toString()).toBe('changed');
  });
});
