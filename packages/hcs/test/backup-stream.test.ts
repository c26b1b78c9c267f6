/*
 * The Win32 backup stream codec against bytes laid out by hand from winbase.h's
 * WIN32_STREAM_ID (20-byte header: id, attributes, u64 size, name size; UTF-16LE name;
 * a sparse block's 8-byte offset counted in its size), read at every chunking, written
 * back byte for byte; and the simulator's folders giving and taking such streams.
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { BACKUP_ALTERNATE_DATA, BACKUP_DATA, BACKUP_SECURITY_DATA, BACKUP_SPARSE_BLOCK, encodeBackupHeader, readBackupStreams, writeBackupStream, type BackupStreamPart } from '../src/index.js';
import { HcsSimulator } from '../src/simulator/index.js';

/** O:BAG:SYD:(A;;FA;;;BA) as a self-relative SECURITY_DESCRIPTOR, byte by byte. */
export const SD = Buffer.from(
  [
    '01 00 04 80', // Revision 1, Sbz1, Control SE_SELF_RELATIVE|SE_DACL_PRESENT
    '14 00 00 00', // OffsetOwner 20
    '24 00 00 00', // OffsetGroup 36
    '00 00 00 00', // OffsetSacl
    '30 00 00 00', // OffsetDacl 48
    '01 02 00 00 00 00 00 05 20 00 00 00 20 02 00 00', // S-1-5-32-544 (BA)
    '01 01 00 00 00 00 00 05 12 00 00 00', // S-1-5-18 (SY)
    '02 00 20 00 01 00 00 00', // ACL: revision 2, size 32, 1 ACE
    '00 00 18 00 ff 01 1f 00', // ACCESS_ALLOWED_ACE, size 24, FILE_ALL_ACCESS
    '01 02 00 00 00 00 00 05 20 00 00 00 20 02 00 00', // S-1-5-32-544
  ]
    .join(' ')
    .split(' ')
    .map((h) => parseInt(h, 16)),
);

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const utf16 = (s: string) => Buffer.from(s, 'utf16le');

/** SD, "hello" as data, ":zone:$DATA" holding "[ZoneTransfer]", laid out by hand. */
const FILE = Buffer.concat([
  hex('03000000 00000000 5000000000000000 00000000'),
  SD,
  hex('01000000 00000000 0500000000000000 00000000'),
  Buffer.from('hello'),
  hex('04000000 00000000 0e00000000000000 16000000'),
  utf16(':zone:$DATA'),
  Buffer.from('[ZoneTransfer]'),
]);

async function* chunked(b: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

async function parse(src: AsyncIterable<Buffer>) {
  const out = [];
  for await (const s of readBackupStreams(src)) {
    const chunks: Buffer[] = [];
    for await (const c of s.body) chunks.push(c as Buffer);
    out.push({ ...s.header, data: Buffer.concat(chunks) });
  }
  return out;
}

async function bytesOf(parts: BackupStreamPart[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of writeBackupStream(parts)) chunks.push(c);
  return Buffer.concat(chunks);
}

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('the Win32 backup stream', () => {
  it('is the documented layout: SD 80 bytes, data, an alternate stream named in UTF-16', () => {
    expect(SD.length).toBe(80);
    expect(encodeBackupHeader({ id: BACKUP_ALTERNATE_DATA, size: 14, name: ':zone:$DATA' })).toEqual(Buffer.concat([hex('04000000 00000000 0e00000000000000 16000000'), utf16(':zone:$DATA')]));
    // a sparse block's size counts its offset
    expect(encodeBackupHeader({ id: BACKUP_SPARSE_BLOCK, size: 4, offset: 4096 })).toEqual(hex('09000000 00000000 0c00000000000000 00000000 0010000000000000'));
  });

  for (const size of [1, 3, 7, 20, 64, 1 << 16]) {
    it(`reads in chunks of ${size} bytes`, async () => {
      const got = await parse(chunked(FILE, size));
      expect(got.map((s) => [s.id, s.name, s.size])).toEqual([
        [BACKUP_SECURITY_DATA, '', 80],
        [BACKUP_DATA, '', 5],
        [BACKUP_ALTERNATE_DATA, ':zone:$DATA', 14],
      ]);
      expect(got[0]!.data.equals(SD)).toBe(true);
      expect(got[1]!.data.toString()).toBe('hello');
      expect(got[2]!.data.toString()).toBe('[ZoneTransfer]');
    });
  }

  it('writes the same bytes back, and refuses a body that is not its size', async () => {
    const parts: BackupStreamPart[] = [
      { header: { id: BACKUP_SECURITY_DATA, size: SD.length }, body: SD },
      { header: { id: BACKUP_DATA, size: 5 }, body: Readable.from([Buffer.from('hel'), Buffer.from('lo')]) },
      { header: { id: BACKUP_ALTERNATE_DATA, size: 14, name: ':zone:$DATA' }, body: Buffer.from('[ZoneTransfer]') },
    ];
    expect((await bytesOf(parts)).equals(FILE)).toBe(true);
    await expect(bytesOf([{ header: { id: BACKUP_DATA, size: 6 }, body: Buffer.from('hello') }])).rejects.toThrow(/5 bytes instead of 6/);
    await expect(bytesOf([{ header: { id: BACKUP_DATA, size: 4 }, body: Buffer.from('hello') }])).rejects.toThrow(/more than its 4/);
  });

  it('reads sparse blocks with their offsets, skips what a reader leaves, and refuses a cut stream', async () => {
    const sparse = await bytesOf([
      { header: { id: BACKUP_DATA, size: 0, attributes: 8 } },
      { header: { id: BACKUP_SPARSE_BLOCK, size: 3, offset: 4096 }, body: Buffer.from('abc') },
      { header: { id: BACKUP_SPARSE_BLOCK, size: 0, offset: 8192 } },
    ]);
    const got = await parse(chunked(sparse, 5));
    expect(got.map((s) => [s.id, s.attributes, s.size, s.offset])).toEqual([
      [BACKUP_DATA, 8, 0, undefined],
      [BACKUP_SPARSE_BLOCK, 0, 3, 4096],
      [BACKUP_SPARSE_BLOCK, 0, 0, 8192],
    ]);
    // a reader that takes only the names: the bodies are read past
    const names = [];
    for await (const s of readBackupStreams(chunked(FILE, 4))) names.push(s.header.id);
    expect(names).toEqual([BACKUP_SECURITY_DATA, BACKUP_DATA, BACKUP_ALTERNATE_DATA]);
    await expect(parse(chunked(FILE.subarray(0, FILE.length - 3), 8))).rejects.toThrow(/cut short/);
    await expect(parse(chunked(FILE.subarray(0, 30), 8))).rejects.toThrow(/cut short/);
  });
});

describe("the simulator's folders as NTFS (HcsSimulator.backup)", () => {
  it('gives a file with its SD and streams as BackupRead lays them out, and takes them back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-ntfs-'));
    dirs.push(dir);
    const sim = new HcsSimulator();
    await sim.backup.write(join(dir, 'a.txt'), chunked(FILE, 9));
    // the stream is where Windows opens it (`a.txt:zone`); the SD beside it
    expect((await readdir(dir)).sort()).toEqual(['a.txt', 'a.txt::$SD', 'a.txt:zone']);
    expect(await readFile(join(dir, 'a.txt'), 'utf8')).toBe('hello');
    const back: Buffer[] = [];
    for await (const c of sim.backup.read(join(dir, 'a.txt'))) back.push(c as Buffer);
    expect(Buffer.concat(back).equals(FILE)).toBe(true);
    // a stream of only an SD sets the SD of a file already written; its data stays
    const sd2 = Buffer.from(SD);
    sd2[2] = 0x05; // another control word
    await sim.backup.write(join(dir, 'a.txt'), writeBackupStream([{ header: { id: BACKUP_SECURITY_DATA, size: sd2.length }, body: sd2 }]));
    expect((await readFile(join(dir, 'a.txt::$SD'))).equals(sd2)).toBe(true);
    expect(await readFile(join(dir, 'a.txt'), 'utf8')).toBe('hello');
    // a directory: its SD, no data
    await sim.backup.write(join(dir, 'sub'), writeBackupStream([{ header: { id: BACKUP_SECURITY_DATA, size: SD.length }, body: SD }]), { directory: true });
    const parsed = await parse(sim.backup.read(join(dir, 'sub')));
    expect(parsed.map((s) => s.id)).toEqual([BACKUP_SECURITY_DATA]);
    // a stream name that would leave the folder is refused
    await expect(sim.backup.write(join(dir, 'b.txt'), writeBackupStream([{ header: { id: BACKUP_ALTERNATE_DATA, size: 1, name: ':../../x:$DATA' }, body: Buffer.from('x') }]))).rejects.toThrow(/bad stream name/);
    await writeFile(join(dir, 'plain'), 'p');
    expect((await parse(sim.backup.read(join(dir, 'plain')))).map((s) => [s.id, s.data.toString()])).toEqual([[BACKUP_DATA, 'p']]);
  });
});
