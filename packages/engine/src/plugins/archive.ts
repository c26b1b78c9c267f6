import { once } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { posix } from 'node:path';
import { BerthError, type Digest } from '@berth/image-format';
import { applyLayer, packableHeader, withPaxTimes } from '@berth/layer-store';

/** An entry name relative to the archive's root (`./a/../b` is `b`); the extractor refuses what escapes. */
const entryName = (n: string): string => posix.normalize('/' + n).slice(1).replace(/\/$/, '');

/** config.json of a plugin is read into memory: more than this is not a config. */
const MAX_CONFIG_BYTES = 1 << 20;

export interface PluginArchive {
  configBytes: Buffer;
  /** DiffID of the rootfs as Berth re-packed it (entries below `rootfs/`, prefix removed). */
  rootfsDiffId: Digest;
}

/** The archive lacked a part Docker requires; Docker answers these with 500 and so does Berth. */
export class PluginArchiveError extends Error {}

/**
 * Reads the tar of `POST /plugins/create` (plain or gzip): `config.json` and the `rootfs/`
 * tree. The rootfs entries are re-packed without their prefix and applied to `rootfsDir`
 * by layer-store's guarded extractor (no entry can leave it), streaming.
 */
export async function unpackPluginArchive(body: Readable, rootfsDir: string): Promise<PluginArchive> {
  const input = await gunzipIfNeeded(body);
  const extract = tar.extract();
  const pack = tar.pack();
  // The apply consumes `pack` as it is written; its result or error is awaited at the end.
  const applying = applyLayer(Readable.from(pack as unknown as AsyncIterable<Buffer>), rootfsDir, { compression: 'none', whiteouts: 'delete' });
  applying.catch(() => undefined);
  input.on('error', (err) => extract.destroy(err));
  input.pipe(extract);
  let configBytes: Buffer | undefined;
  let sawRootfs = false;
  try {
    for await (const entry of extract) {
      const h = entry.header;
      const name = entryName(h.name);
      if (name === 'config.json' && h.type === 'file') {
        if ((h.size ?? 0) > MAX_CONFIG_BYTES) throw new PluginArchiveError(`config.json is larger than ${MAX_CONFIG_BYTES} bytes`);
        const chunks: Buffer[] = [];
        for await (const c of entry) chunks.push(c as Buffer);
        configBytes = Buffer.concat(chunks);
        continue;
      }
      if (name === 'rootfs') {
        sawRootfs = true;
        entry.resume();
        continue;
      }
      if (!name.startsWith('rootfs/')) {
        entry.resume();
        continue;
      }
      sawRootfs = true;
      const header = { ...withPaxTimes(h), name: name.slice('rootfs/'.length) + (h.type === 'directory' ? '/' : '') };
      if (h.type === 'link' && h.linkname) header.linkname = entryName(h.linkname).replace(/^rootfs\//, '');
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry(packableHeader(header), (err) => (err ? reject(err) : resolve()));
        entry.on('error', reject);
        entry.pipe(sink);
      });
    }
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    await applying.catch(() => undefined);
    if (err instanceof BerthError || err instanceof PluginArchiveError) throw err;
    // Docker's words when the archive ends before a rootfs was found ("no rootfs found: EOF").
    if (!sawRootfs) throw new PluginArchiveError(`no rootfs found: ${(err as Error).message}`);
    throw new PluginArchiveError(`malformed plugin archive: ${(err as Error).message}`);
  } finally {
    input.unpipe(extract);
    if (!input.readableEnded) input.destroy();
  }
  const applied = await applying;
  if (!sawRootfs) throw new PluginArchiveError('no rootfs found: EOF');
  if (!configBytes) throw new PluginArchiveError('config not found: config.json is missing from the plugin archive');
  return { configBytes, rootfsDiffId: applied.diffId };
}

/** Passes the body on, through gunzip when it starts with gzip's magic. */
async function gunzipIfNeeded(body: Readable): Promise<Readable> {
  const out = new PassThrough();
  const first: Buffer | null = await new Promise((resolve, reject) => {
    const onReadable = (): void => {
      const c = body.read() as Buffer | null;
      if (c === null && !body.readableEnded) return;
      cleanup();
      resolve(c);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(null);
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const cleanup = (): void => {
      body.off('readable', onReadable);
      body.off('end', onEnd);
      body.off('error', onError);
    };
    body.on('readable', onReadable);
    body.once('end', onEnd);
    body.once('error', onError);
  });
  if (first === null) {
    out.end();
    return out;
  }
  const gzip = first.length >= 2 && first[0] === 0x1f && first[1] === 0x8b;
  body.on('error', (err) => out.destroy(err));
  const target = gzip ? createGunzip() : out;
  if (gzip) {
    target.on('error', (err) => out.destroy(err));
    target.pipe(out);
  }
  if (!target.write(first)) await once(target, 'drain');
  body.pipe(target);
  return out;
}
