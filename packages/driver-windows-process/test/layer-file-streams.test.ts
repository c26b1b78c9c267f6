/*
 * One file's backup stream as tar entries (layer-file-streams.ts), from streams as
 * Windows' BackupRead gives them that the simulator does not make: a sparse file (a data
 * stream of no bytes with STREAM_SPARSE_ATTRIBUTE, then blocks at offsets and an end block
 * at the file's size) filled out with zeros as backuptar's copySparse does; streams
 * backuptar leaves out (EAs, object ids) left out; a sparse alternate stream refused.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BACKUP_ALTERNATE_DATA, BACKUP_DATA, BACKUP_EA_DATA, BACKUP_OBJECT_ID, BACKUP_SECURITY_DATA, BACKUP_SPARSE_BLOCK, STREAM_SPARSE_ATTRIBUTE, writeBackupStream, type BackupFiles, type BackupStreamPart } from '@berth/hcs';
import { addWithStreams, type AddEntry } from '../src/layer-file-streams.js';

const filesOf = (parts: BackupStreamPart[]): BackupFiles => ({
  read: () => Readable.from(writeBackupStream(parts)),
  write: async () => undefined,
});

async function run(parts: BackupStreamPart[], size: number) {
  const got: { name: string; type: string; size?: number; pax?: Record<string, string>; body: Buffer }[] = [];
  const add: AddEntry = async (header, body) => {
    const chunks: Buffer[] = [];
    if (body) for await (const c of body) chunks.push(c as Buffer);
    got.push({ name: header.name, type: header.type, ...(header.size !== undefined ? { size: header.size } : {}), ...(header.pax ? { pax: header.pax } : {}), body: Buffer.concat(chunks) });
  };
  await addWithStreams(add, filesOf(parts), '/x', false, size, { name: 'Files/s.bin', mode: 0o644, mtime: new Date(0), pax: { 'MSWINDOWS.fileattr': '544' } });
  return got;
}

describe('a file\'s backup stream as layer tar entries', () => {
  it('fills a sparse file\'s holes with zeros, to its size', async () => {
    const got = await run(
      [
        { header: { id: BACKUP_SECURITY_DATA, size: 4 }, body: Buffer.from('SDSD') },
        { header: { id: BACKUP_DATA, size: 0, attributes: STREAM_SPARSE_ATTRIBUTE } },
        { header: { id: BACKUP_SPARSE_BLOCK, size: 3, offset: 5 }, body: Buffer.from('abc') },
        { header: { id: BACKUP_SPARSE_BLOCK, size: 2, offset: 100_000 }, body: Buffer.from('de') },
        { header: { id: BACKUP_SPARSE_BLOCK, size: 0, offset: 100_010 } },
        { header: { id: BACKUP_EA_DATA, size: 2 }, body: Buffer.from('ea') },
        { header: { id: BACKUP_ALTERNATE_DATA, size: 1, name: ':s:$DATA' }, body: Buffer.from('s') },
        { header: { id: BACKUP_OBJECT_ID, size: 2 }, body: Buffer.from('id') },
      ],
      100_010,
    );
    expect(got.map((e) => [e.name, e.type, e.size])).toEqual([
      ['Files/s.bin', 'file', 100_010],
      ['Files/s.bin:s', 'file', 1],
    ]);
    const want = Buffer.alloc(100_010);
    want.write('abc', 5);
    want.write('de', 100_000);
    expect(got[0]!.body.equals(want)).toBe(true);
    expect(got[0]!.pax).toEqual({ 'MSWINDOWS.fileattr': '544', 'MSWINDOWS.rawsd': Buffer.from('SDSD').toString('base64') });
  });

  it('refuses what backuptar refuses or cannot be: a sparse stream, sizes that disagree', async () => {
    await expect(run([{ header: { id: BACKUP_DATA, size: 1 }, body: Buffer.from('a') }, { header: { id: BACKUP_ALTERNATE_DATA, size: 1, name: ':s:$DATA', attributes: STREAM_SPARSE_ATTRIBUTE }, body: Buffer.from('s') }], 1)).rejects.toThrow(/sparse alternate data stream/);
    await expect(run([{ header: { id: BACKUP_DATA, size: 2 }, body: Buffer.from('ab') }], 3)).rejects.toThrow(/2 bytes, the file 3/);
    await expect(run([{ header: { id: BACKUP_DATA, size: 0, attributes: STREAM_SPARSE_ATTRIBUTE } }, { header: { id: BACKUP_SPARSE_BLOCK, size: 1, offset: 9 }, body: Buffer.from('z') }], 4)).rejects.toThrow(/sparse block at 9/);
    await expect(run([{ header: { id: BACKUP_SECURITY_DATA, size: 1 }, body: Buffer.from('s') }], 3)).rejects.toThrow(/no data stream/);
  });
});
