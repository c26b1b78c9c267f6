import { mkdir } from 'node:fs/promises';
import { PassThrough, type Readable } from 'node:stream';
import { applyLayer } from '@berth/layer-store';

/**
 * Unpacks a build context (tar, plain or gzip) into `dir` with layer-store's guarded
 * extraction: no entry lands outside `dir`, links included.
 */
export async function extractContext(tar: Readable, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const { stream, gzip } = await peekGzip(tar);
  await applyLayer(stream, dir, { compression: gzip ? 'gzip' : 'none', whiteouts: 'delete' });
}

/** Tells a gzip stream by its magic bytes without consuming them. */
async function peekGzip(input: Readable): Promise<{ stream: Readable; gzip: boolean }> {
  const out = new PassThrough();
  const first = await new Promise<Buffer | null>((resolve, reject) => {
    const onReadable = (): void => {
      const chunk = input.read() as Buffer | null;
      if (chunk === null && !input.readableEnded) return;
      done();
      resolve(chunk);
    };
    const onEnd = (): void => {
      done();
      resolve(null);
    };
    const done = (): void => {
      input.off('readable', onReadable);
      input.off('error', reject);
      input.off('end', onEnd);
    };
    input.on('readable', onReadable);
    input.once('error', reject);
    input.once('end', onEnd);
  });
  if (first) out.write(first);
  input.once('error', (err) => out.destroy(err));
  input.pipe(out);
  return { stream: out, gzip: !!first && first[0] === 0x1f && first[1] === 0x8b };
}
