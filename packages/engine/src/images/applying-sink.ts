import { PassThrough, type Readable } from 'node:stream';
import { isLayerMediaType, type Digest } from '@berth/image-format';
import type { ContentStore, LayerChainUnpacker } from '@berth/layer-store';

/**
 * The content store as registry-client's blob sink, with each layer's bytes also fed to
 * layer-store's unpacker as they stream in (a tee): decompression and apply run while
 * the blob downloads, instead of after it is committed. The apply lands in a detached
 * snapshot that is committed only after the pull verified every blob's digest (and the
 * config's diffIDs); a failed or resumed download falls back to applying the stored blob.
 * Backpressure is shared: the download goes no faster than the apply reads.
 */
export class ApplyingSink {
  /** Layer media types by digest, learnt from the pull's progress events (they precede writes). */
  readonly mediaTypes = new Map<string, string>();

  constructor(
    private readonly content: ContentStore,
    private readonly unpacker: LayerChainUnpacker,
  ) {}

  has(digest: Digest): Promise<boolean> {
    return this.content.has(digest);
  }

  ingestedBytes(ref: string): Promise<number> {
    return this.content.ingestedBytes(ref);
  }

  async write(ref: string, expected: { digest: Digest; size: number }, data: Readable, opts: { offset?: number } = {}): Promise<void> {
    const mediaType = this.mediaTypes.get(expected.digest);
    // A resumed download carries only the rest of the blob: that layer is applied from the store.
    const apply = mediaType && isLayerMediaType(mediaType) && !opts.offset ? this.unpacker.beginStream({ mediaType, digest: expected.digest, size: expected.size }) : undefined;
    if (!apply) return this.content.write(ref, expected, data, opts);
    const store = new PassThrough({ highWaterMark: 1 << 20 });
    data.on('error', (err) => {
      store.destroy(err);
      apply.destroy(err);
    });
    // An apply that gives up (a refused entry) closes its side; the download goes on.
    apply.on('error', () => undefined);
    data.pipe(store);
    data.pipe(apply);
    try {
      await this.content.write(ref, expected, store, opts);
    } catch (err) {
      apply.destroy(err as Error);
      throw err;
    }
  }
}
