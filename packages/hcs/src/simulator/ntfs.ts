/**
 * BackupRead/BackupWrite over a Linux folder standing for NTFS: a file's alternate data
 * stream `s` is the file `<name>:s` beside it (the path Windows itself opens for that
 * stream), its security descriptor the file `<name>::$SD` (a name no Windows stream can
 * have: the type of a stream is $DATA). Folders listed for layers skip such names
 * (isStreamName), as Windows lists none. What read() gives is the byte layout BackupRead
 * gives: SD, then data (files), then the streams by name.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BackupFiles } from '../backup/files.js';
import { BACKUP_ALTERNATE_DATA, BACKUP_DATA, BACKUP_SECURITY_DATA, readBackupStreams, writeBackupStream, type BackupStreamPart } from '../backup/stream.js';

const SD_SUFFIX = '::$SD';
const DATA_SUFFIX = ':$DATA';

export class SimulatedNtfs implements BackupFiles {
  read(path: string): Readable {
    return Readable.from(writeBackupStream(this.parts(path)));
  }

  private async *parts(path: string): AsyncGenerator<BackupStreamPart> {
    const st = await stat(path);
    const sd = await stat(path + SD_SUFFIX).catch(() => undefined);
    if (sd) yield { header: { id: BACKUP_SECURITY_DATA, size: sd.size }, body: createReadStream(path + SD_SUFFIX) };
    if (st.isFile()) yield { header: { id: BACKUP_DATA, size: st.size }, body: createReadStream(path) };
    const base = basename(path);
    const streams = (await readdir(dirname(path))).filter((n) => n.startsWith(`${base}:`) && !n.startsWith(`${base}::`)).sort();
    for (const n of streams) {
      const p = join(dirname(path), n);
      yield { header: { id: BACKUP_ALTERNATE_DATA, size: (await stat(p)).size, name: `${n.slice(base.length)}${DATA_SUFFIX}` }, body: createReadStream(p) };
    }
  }

  async write(path: string, stream: AsyncIterable<Buffer>, options: { directory?: boolean } = {}): Promise<void> {
    if (options.directory) await mkdir(path, { recursive: true });
    else await writeFile(path, '', { flag: 'a' });
    for await (const s of readBackupStreams(stream)) {
      const { id, name = '' } = s.header;
      let target: string | undefined;
      if (id === BACKUP_SECURITY_DATA) target = path + SD_SUFFIX;
      else if (id === BACKUP_DATA && !options.directory) target = path;
      else if (id === BACKUP_ALTERNATE_DATA) {
        const stream = name.endsWith(DATA_SUFFIX) ? name.slice(1, -DATA_SUFFIX.length) : '';
        // `:name:$DATA`, one name: anything else would leave the folder
        if (!stream || /[:/\\\0]/.test(stream) || stream === '.' || stream === '..') throw new Error(`${path}: bad stream name ${JSON.stringify(name)}`);
        target = `${path}:${stream}`;
      }
      // streams the simulated NTFS does not keep (EAs, reparse data, links...) are read past
      if (target) await pipeline(s.body, createWriteStream(target));
    }
  }
}
