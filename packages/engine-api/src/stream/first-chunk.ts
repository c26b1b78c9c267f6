import { PassThrough, type Readable } from 'node:stream';

/**
 * Waits for a stream's first chunk (null when it ends empty) and hands back a stream
 * that gives that chunk and then the rest: for looking at magic bytes, or for letting
 * an error a stream reports on its first read become an ordinary error response.
 * A read error before the first chunk rejects; later ones reach `rest`.
 */
export async function readFirstChunk(input: Readable): Promise<{ first: Buffer | null; rest: Readable }> {
  // Watched from the start (it may come right after the first chunk is read), and by
  // event: streamx streams (tar-stream's) have no readableEnded.
  let ended = false;
  input.once('end', () => (ended = true));
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
    // destroyed before it gave anything (its reader went away): nothing will come
    const onClose = (): void => {
      done();
      if (input.errored) reject(input.errored);
      else resolve(null);
    };
    const onError = (err: Error): void => {
      done();
      reject(err);
    };
    const done = (): void => {
      input.off('readable', onReadable);
      input.off('end', onEnd);
      input.off('error', onError);
      input.off('close', onClose);
    };
    input.on('readable', onReadable);
    input.on('end', onEnd);
    input.on('error', onError);
    input.on('close', onClose);
  });
  const rest = new PassThrough();
  if (first) rest.write(first);
  input.once('error', (err) => rest.destroy(err));
  // Destroyed without an error (its reader went away): `rest` must not wait for an end.
  input.once('close', () => {
    if (!ended && !rest.destroyed) rest.destroy();
  });
  input.pipe(rest);
  return { first, rest };
}
