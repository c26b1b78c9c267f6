/**
 * A Windows layer's tar into the staging folder HcsImportLayer reads, with what hcsshim's
 * layer writer puts there through BackupWrite: the guarded extractor writes every entry
 * (paths, data, whiteouts kept; an alternate data stream's entry `<path>:s` is the path
 * Windows opens for that stream, and the simulator's folder keeps it so too), and each
 * entry's security descriptor (PAX `MSWINDOWS.rawsd`) is then written onto what the
 * extractor made, as a backup stream of only BACKUP_SECURITY_DATA (HcsApi.backup:
 * BackupWrite on Windows). The extractor hands each applied entry's header over, and the
 * descriptors are spooled to a file beside the staging folder, so memory stays bounded
 * at any layer size; the paths meet the folder only through the in-root resolver, which
 * refuses links on the way.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { BACKUP_SECURITY_DATA, writeBackupStream, type BackupFiles } from '@berth/hcs';
import { applyLayer, type ApplyOptions, type ApplyResult } from '@berth/layer-store';
import { resolveInRoot } from '@berth/layer-store/archive';

const RAWSD = 'MSWINDOWS.rawsd';

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

/** A Windows layer's tar (compressed or not, as `opts.compression` says) into `staging`, security descriptors included. */
export async function applyWindowsLayer(input: Readable, staging: string, opts: ApplyOptions, backup: BackupFiles): Promise<ApplyResult> {
  const spool = `${staging}.rawsd`;
  const out = createWriteStream(spool);
  const closed = once(out, 'close');
  try {
    const result = await applyLayer(input, staging, {
      ...opts,
      onEntry: async (header) => {
        const sd = (header.pax as Record<string, string> | undefined)?.[RAWSD];
        if (sd !== undefined && !out.write(`${JSON.stringify([header.name, sd])}\n`)) await once(out, 'drain');
      },
    });
    out.end();
    await closed;
    await applyDescriptors(staging, spool, backup);
    return result;
  } finally {
    out.destroy();
    await closed.catch(() => undefined);
    await rm(spool, { force: true });
  }
}
