import type { Readable, Writable } from 'node:stream';

/**
 * Copies `src` into `dst` with backpressure and resolves once `src` has ended (or failed or
 * closed) and `dst` took what was sent; `end` then ends `dst`. A failing `dst` does not take
 * `src` down with it (as pipeline would): the rest of `src` is read and dropped, so a process
 * that closed its stdin early does not reset the client's stream. Errors on either side are
 * handled here.
 */
export function pump(src: Readable, dst: Writable, end = true): Promise<void> {
  return new Promise((resolve) => {
    let dstBroken = false;
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      src.off('data', onData);
      dst.off('drain', onDrain);
      if (end && !dstBroken && !dst.writableEnded && !dst.destroyed) dst.end(() => resolve());
      else resolve();
    };
    const onDrain = (): void => {
      src.resume();
    };
    const onData = (b: Buffer): void => {
      if (dstBroken) return;
      if (!dst.write(b)) src.pause();
    };
    src.on('data', onData);
    dst.on('drain', onDrain);
    dst.on('error', () => {
      dstBroken = true;
      src.resume();
    });
    dst.on('close', () => {
      if (!dst.writableFinished) {
        dstBroken = true;
        src.resume();
      }
    });
    src.on('error', finish);
    src.on('end', finish);
    src.on('close', finish);
  });
}
