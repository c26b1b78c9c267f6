import { mkdir } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { readFirstChunk } from '@berth/engine-api';
import { applyLayer } from '@berth/layer-store';

/**
 * Unpacks a build context (tar, plain or gzip) into `dir` with layer-store's guarded
 * extraction: no entry lands outside `dir`, links included.
 */
export async function extractContext(tar: Readable, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  // gzip is told by its magic bytes
  const { first, rest } = await readFirstChunk(tar);
  const gzip = !!first && first[0] === 0x1f && first[1] === 0x8b;
  await applyLayer(rest, dir, { compression: gzip ? 'gzip' : 'none', whiteouts: 'delete' });
}
