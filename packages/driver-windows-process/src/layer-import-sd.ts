/**
 * A Windows layer's tar into the staging folder HcsImportLayer reads, with what hcsshim's
 * layer writer puts there through BackupWrite: the guarded extractor writes every entry
 * (paths, data, whiteouts kept; an alternate data stream's entry `<path>:s` is the path
 * Windows opens for that stream, and the simulator's folder keeps it so too), and each
 * entry's security descriptor (PAX `MSWINDOWS.rawsd`) is then written onto what the
 * extractor made, as a backup stream of only BACKUP_SECURITY_DATA (HcsApi.backup:
 * BackupWrite on Windows). The descriptors are read from a second parse of the same bytes
 * as they pass and spooled to a file beside the staging folder, so memory stays bounded
 * at any layer size; the paths meet the folder only through the in-root resolver, which
 * refuses links on the way.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { BACKUP_SECURITY_DATA, writeBackupStream, type BackupFiles } from '@berth/hcs';
import { applyLayer, type ApplyOptions, type ApplyResult } from '@berth/layer-store';
import { resolveInRoot, sniffingDecompressor } from '@berth/layer-store/archive';

const RAWSD = 'MSWINDOWS.rawsd';

/** `src` to every one of `outs`, as fast as the slowest takes it. */
function tee(src: Readable, outs: Writable[]): void {
  src.on('data', (chunk: Buffer) => {
    const waits = outs.filter((o) => !o.write(chunk));
    if (waits.length) {
      src.pause();
      void Promise.all(waits.map((o) => once(o, 'drain'))).then(() => src.resume(), () => undefined);
    }
  });
  src.on('end', () => outs.forEach((o) => o.end()));
  src.on('error', (err) => outs.forEach((o) => o.destroy(err)));
}

/** The security descriptors the tar names, one JSON line each (`[name, base64]`), into `spool`. */
async function spoolDescriptors(input: Readable, spool: string): Promise<void> {
  const out = createWriteStream(spool);
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, body, next) => {
      const sd = (header.pax as Record<string, string> | undefined)?.[RAWSD];
      body.on('end', next);
      body.resume();
      if (sd !== undefined && !out.write(`${JSON.stringify([header.name, sd])}\n`)) {
        body.pause();
        out.once('drain', () => body.resume());
      }
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  input.pipe(extract);
  try {
    await done;
  } finally {
    out.end();
    await once(out, 'close').catch(() => undefined);
  }
}

/** Writes each spooled descriptor onto its entry in `root` through BackupWrite. */
async function applyDescriptors(root: string, spool: string, backup: BackupFiles): Promise<number> {
  let n = 0;
  const lines = createInterface({ input: createReadStream(spool), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line) continue;
    const [name, b64] = JSON.parse(line) as [string, string];
    const sd = Buffer.from(b64, 'base64');
    if (!sd.length) continue;
    const host = await resolveInRoot(root, `/${name.replace(/^(\.\/)+/, '')}`, { followLast: false, symlinks: 'refuse' });
    const st = await lstat(host);
    // a link's own descriptor is not carried (its target is what HcsImportLayer reads)
    if (st.isSymbolicLink()) continue;
    await backup.write(host, writeBackupStream([{ header: { id: BACKUP_SECURITY_DATA, size: sd.length }, body: sd }]), { directory: st.isDirectory() });
    n++;
  }
  return n;
}

/** A Windows layer's (uncompressed) tar into `staging`, security descriptors included. */
export async function applyWindowsLayer(input: Readable, staging: string, opts: ApplyOptions, backup: BackupFiles): Promise<ApplyResult> {
  const spool = `${staging}.rawsd`;
  const toExtract = new PassThrough();
  const toScan = new PassThrough();
  tee(input, [toExtract, toScan]);
  try {
    const scanned = spoolDescriptors(toScan, spool);
    // a scan that fails stops the extraction too (else the tee would wait on it for ever)
    scanned.catch((err: unknown) => toExtract.destroy(err as Error));
    let result: ApplyResult;
    try {
      result = await applyLayer(toExtract, staging, { ...opts, compression: 'none' });
    } catch (err) {
      toScan.destroy();
      await scanned.catch(() => undefined);
      throw err;
    }
    await scanned;
    await applyDescriptors(staging, spool, backup);
    return result;
  } finally {
    await rm(spool, { force: true });
  }
}

/** The same from the layer's blob as pulled (compressed or not). */
export async function applyCompressedWindowsLayer(input: Readable, opts: ApplyOptions, staging: string, backup: BackupFiles): Promise<ApplyResult> {
  const dec = sniffingDecompressor(opts.compression);
  const feed = pipeline(input, dec.stream).catch((err: unknown) => void dec.stream.destroy(err as Error));
  try {
    const r = await applyWindowsLayer(dec.stream, staging, opts, backup);
    await feed;
    await dec.done;
    return r;
  } catch (err) {
    input.destroy();
    dec.stream.destroy();
    await feed;
    throw err;
  }
}
