/**
 * A layer's tar on its way into the windowsfilter store: a Linux layer (LCOW) goes to the
 * ext4 writer as a stream (no host file system between the tar and the disk: NTFS would
 * lose owners, modes, devices, links and xattrs); a Windows layer goes to the guarded
 * extractor's staging folder for HcsImportLayer. A base layer says which it is by its
 * first entry: every Windows layer tar starts in `Files`, `Hives` or `UtilityVM`.
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DigestMismatchError } from '@berth/image-format';
import { applyLayer, type ApplyOptions, type ApplyResult } from '@berth/layer-store';
import { sniffingDecompressor } from '@berth/layer-store/archive';

/** Writes a Linux layer's tar (uncompressed) as the folder's disk; the tar's digest and sizes back. */
export type LinuxLayerTarWriter = (tar: Readable, folder: string, opts: Pick<ApplyOptions, 'limits'>) => Promise<Omit<ApplyResult, 'diffId'> & { digest: ApplyResult['diffId'] }>;

const WINDOWS_TOP = new Set(['files', 'hives', 'utilityvm']);
/** How far a base layer's first entry is looked for (its PAX headers are within the extractor's cap). */
const PEEK_LIMIT = 4 << 20;

export interface LinuxOrWindowsApply {
  input: Readable;
  opts: ApplyOptions;
  /** The parent's kind: a child is what its parent is; undefined for a base layer. */
  parentLinux: boolean | undefined;
  staging: string;
  folder: string;
  writeLinux: LinuxLayerTarWriter;
  /** Called once a layer is known to be Linux, before its disk is written. */
  onLinux: () => Promise<void>;
  /** A Windows layer's (uncompressed) tar into `staging`; default the guarded extractor alone. */
  applyWindows?: (tar: Readable, staging: string, opts: ApplyOptions) => Promise<ApplyResult>;
}

export async function applyLinuxOrWindows(a: LinuxOrWindowsApply): Promise<ApplyResult> {
  const dec = sniffingDecompressor(a.opts.compression);
  const feed = pipeline(a.input, dec.stream).catch((err: unknown) => void dec.stream.destroy(err as Error));
  const tar = dec.stream;
  try {
    const first = a.parentLinux === undefined ? await firstEntryName(tar) : undefined;
    const linux = a.parentLinux ?? !isWindowsName(first);
    if (!linux) {
      const r = await (a.applyWindows ?? applyLayer)(tar, a.staging, { ...a.opts, compression: 'none' });
      await feed;
      await dec.done;
      return r;
    }
    await a.onLinux();
    const r = await a.writeLinux(tar, a.folder, a.opts.limits ? { limits: a.opts.limits } : {});
    await feed;
    await dec.done;
    if (a.opts.expectedDiffId && a.opts.expectedDiffId !== r.digest) throw new DigestMismatchError(a.opts.expectedDiffId, r.digest, 'layer diffID');
    return { diffId: r.digest, size: r.size, entries: r.entries, contentSize: r.contentSize };
  } catch (err) {
    a.input.destroy();
    tar.destroy();
    await feed;
    throw err;
  }
}

function isWindowsName(name: string | undefined): boolean {
  if (name === undefined) return true; // empty: nothing for either; the importer takes an empty layer
  const top = name.replace(/^(\.\/)+/, '').split('/')[0]!.toLowerCase();
  return WINDOWS_TOP.has(top);
}

/**
 * The name of the tar's first real entry (past PAX and GNU long-name headers), read
 * without consuming: what was read is put back for the consumer.
 */
async function firstEntryName(s: Readable): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let have = 0;
  const need = async (n: number): Promise<boolean> => {
    while (have < n) {
      const c = await nextChunk(s);
      if (!c) return false;
      chunks.push(c);
      have += c.length;
    }
    return true;
  };
  try {
    let off = 0;
    let long: string | undefined;
    while (off < PEEK_LIMIT) {
      if (!(await need(off + 512))) return undefined;
      const h = Buffer.concat(chunks).subarray(off, off + 512);
      if (h.every((b) => b === 0)) return undefined;
      const type = h[156]!;
      if (type === 0x78 || type === 0x67 || type === 0x4c || type === 0x4b) {
        const size = parseInt(h.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
        if (!(size >= 0) || size > PEEK_LIMIT || !(await need(off + 512 + size))) return undefined;
        const body = Buffer.concat(chunks).subarray(off + 512, off + 512 + size).toString('utf8');
        // the name a PAX `path` record or a GNU long name gives (Windows layer tars name every entry so)
        if (type === 0x4c) long = body.replace(/\0.*$/s, '');
        else if (type === 0x78) long = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(body)?.[1] ?? long;
        off += 512 + Math.ceil(size / 512) * 512;
        continue;
      }
      if (long !== undefined) return long;
      const field = (a: number, b: number) => h.subarray(a, b).toString('utf8').replace(/\0.*$/s, '');
      const prefix = field(345, 500);
      return prefix ? `${prefix}/${field(0, 100)}` : field(0, 100);
    }
    return undefined;
  } finally {
    if (chunks.length > 0) s.unshift(Buffer.concat(chunks));
  }
}

function nextChunk(s: Readable): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const tryRead = (): void => {
      const c = s.read() as Buffer | null;
      if (c !== null) return done(c);
      if (s.readableEnded) return done(undefined);
    };
    const done = (c: Buffer | undefined): void => {
      s.off('readable', tryRead);
      s.off('end', onEnd);
      s.off('error', onError);
      resolve(c);
    };
    const onEnd = (): void => done(undefined);
    const onError = (err: Error): void => {
      s.off('readable', tryRead);
      s.off('end', onEnd);
      reject(err);
    };
    s.on('readable', tryRead);
    s.once('end', onEnd);
    s.once('error', onError);
    tryRead();
  });
}
