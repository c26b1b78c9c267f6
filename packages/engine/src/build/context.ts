import { mkdir, readFile, rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { DockerIgnore, readFirstChunk } from '@berth/engine-api';
import { BerthError, InvalidArgumentError } from '@berth/image-format';
import { extractTar } from '@berth/layer-store';
import { normalize, type LayeredFs } from './layered-fs.js';
import { TarEndCompleter } from './tar-end.js';

/**
 * Unpacks a build context (tar, plain or gzip) into `dir` with layer-store's guarded
 * extractor under the layer rules (absolute names, `..` and links on the way refused, device
 * nodes refused): no entry lands outside `dir`. A context has no whiteouts: a `.wh.x` file is a file.
 */
export async function extractContext(tar: Readable, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  // gzip is told by its magic bytes
  const { first, rest } = await readFirstChunk(tar);
  const gzip = !!first && first[0] === 0x1f && first[1] === 0x8b;
  const tarBytes = gzip ? rest.pipe(createGunzip()) : rest;
  const input = tarBytes.pipe(new TarEndCompleter());
  if (gzip) rest.on('error', (err) => tarBytes.destroy(err));
  tarBytes.on('error', (err) => input.destroy(err));
  try {
    await extractTar(input, dir, { rules: 'layer', owner: process.geteuid?.() === 0 ? 'tar' : 'none', devices: false, xattrs: true });
  } catch (err) {
    if (err instanceof BerthError) throw err;
    throw new InvalidArgumentError(`the build context could not be extracted: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * As Docker's daemon does with a context: `.dockerignore` is not applied to the context (the
 * client already did), but when it names `.dockerignore` itself or the Dockerfile (`dockerfile`,
 * the name the build read it by), those leave the context before any COPY sees them. The
 * Dockerfile a client sends from outside the context (`.dockerfile.<random>`) goes this way:
 * the client adds its name to the .dockerignore it sends.
 */
export async function dropIgnoredBuildFiles(ctx: LayeredFs, dockerfile: string): Promise<void> {
  const own = await ctx.lstat('/.dockerignore');
  if (!own?.stat.isFile()) return;
  const ignore = new DockerIgnore((await readFile(own.hostPath, 'utf8')).split('\n'));
  for (const name of ['.dockerignore', dockerfile]) {
    const rel = normalize(name).slice(1);
    if (rel === '' || !ignore.excludes(rel)) continue;
    const e = await ctx.lstat(rel);
    if (e) await rm(e.hostPath, { recursive: true, force: true });
  }
}
