import { MediaType, digestOf, isLayerMediaType, normalizeReference, type Digest } from '@berth/image-format';
import { localManifest } from './foreign-layers.js';
import type { PushOptions } from '../services.js';
import type { ImageDeps } from './deps.js';
import { layerMessage } from './progress.js';
import { readAll, type ImageRecords } from './records.js';
import type { ImageRecord } from './table.js';

/** docker push: the image's manifest (made on demand for local images) and its blobs to a registry. */
export class ImagePusher {
  constructor(
    private readonly deps: ImageDeps,
    private readonly records: ImageRecords,
  ) {}

  async push(refInput: string, opts: PushOptions = {}): Promise<{ digest: string; size: number; tag: string }> {
    const ref = normalizeReference(refInput);
    const rec = this.deps.table.resolve(refInput);
    const emit = opts.onProgress ?? (() => undefined);
    const manifestBytes = await this.manifestFor(rec);
    emit({ status: `The push refers to repository [${ref.name}]` });
    const { client, release } = this.deps.registry(opts.auth, ref.domain);
    const content = this.deps.storage.content;
    const res = await client.push(ref, { open: (d) => content.read(d), size: async (d) => (await content.info(d)).size }, {
      manifest: { bytes: manifestBytes.bytes, mediaType: manifestBytes.mediaType },
      ...(opts.signal ? { signal: opts.signal } : {}),
      onProgress: (e) => {
        if (!isLayerMediaType(e.mediaType)) return;
        if (e.state === 'waiting') emit(layerMessage('Preparing', e.id));
        else if (e.state === 'uploading') emit(layerMessage('Pushing', e.id, e.current, e.total));
        else if (e.state === 'exists') emit(layerMessage('Layer already exists', e.id));
        else if (e.state === 'mounted') emit(layerMessage(`Mounted from ${ref.path}`, e.id));
        else if (e.state === 'done') emit(layerMessage('Pushed', e.id));
      },
    }).finally(() => release());
    const tag = ref.tag ?? 'latest';
    emit({ status: `${tag}: digest: ${res.manifestDigest} size: ${res.size}` });
    emit({ progressDetail: {}, aux: { Tag: tag, Digest: res.manifestDigest, Size: res.size } });
    this.deps.table.setRef(`${ref.name}@${res.manifestDigest}`, rec.id, 'digest');
    this.deps.events.emit('image', 'push', ref.familiar(), { name: ref.familiar() });
    return { digest: res.manifestDigest, size: res.size, tag };
  }

  /** The image's manifest bytes; images made locally (commit, import, load) get an OCI manifest on demand. */
  private async manifestFor(rec: ImageRecord): Promise<{ bytes: Buffer; mediaType: string }> {
    const content = this.deps.storage.content;
    if (rec.manifestDigest && (await content.has(rec.manifestDigest as Digest))) {
      return { bytes: await readAll(await content.read(rec.manifestDigest as Digest)), mediaType: rec.manifestMediaType ?? MediaType.OciManifest };
    }
    const { bytes, mediaType } = localManifest(rec.configBytes, rec.id as Digest, rec.layers);
    const digest = digestOf(bytes);
    if (!(await content.has(digest))) await content.ingest(`manifest-${digest}`, { digest, size: bytes.length }, bytes);
    this.deps.table.put({ ...rec, manifestDigest: digest, manifestMediaType: mediaType });
    return { bytes, mediaType };
  }
}
