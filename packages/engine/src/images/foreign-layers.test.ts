import { describe, expect, it } from 'vitest';
import { MediaType, type Digest } from '@berth/image-format';
import { foreignSource, localManifest } from './foreign-layers.js';
import type { LayerRecord } from './table.js';

const D = (c: string): Digest => `sha256:${c.repeat(64)}` as Digest;
const foreign = { mediaType: MediaType.DockerForeignLayerGzip, digest: D('a'), size: 10, urls: ['http://127.0.0.1:1/base'] };

describe('foreign layers', () => {
  it('a pulled layer is foreign only with a foreign media type and urls; an archive source wins', () => {
    expect(foreignSource(foreign, undefined)).toEqual(foreign);
    expect(foreignSource({ ...foreign, urls: [] }, undefined)).toBeUndefined();
    expect(foreignSource({ mediaType: MediaType.OciLayerGzip, digest: D('b'), size: 1, urls: ['http://x/'] }, undefined)).toBeUndefined();
    expect(foreignSource({ mediaType: MediaType.OciLayer, digest: D('c'), size: 1 }, foreign)).toBe(foreign);
  });

  it('a local image gets an OCI manifest, or Docker schema2 naming the foreign layer when it has one', () => {
    const top: LayerRecord = { digest: D('c'), mediaType: MediaType.OciLayer, size: 5, diffId: D('c') };
    const oci = JSON.parse(localManifest('{}', D('f'), [top]).bytes.toString());
    expect(oci).toEqual({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, digest: D('f'), size: 2 }, layers: [{ mediaType: MediaType.OciLayer, digest: D('c'), size: 5 }] });
    const base: LayerRecord = { digest: D('d'), mediaType: MediaType.OciLayer, size: 20, diffId: D('d'), source: foreign };
    const made = localManifest('{}', D('f'), [base, top]);
    expect(made.mediaType).toBe(MediaType.DockerManifest);
    expect(JSON.parse(made.bytes.toString())).toEqual({
      schemaVersion: 2,
      mediaType: MediaType.DockerManifest,
      config: { mediaType: MediaType.DockerConfig, digest: D('f'), size: 2 },
      layers: [foreign, { mediaType: MediaType.DockerLayer, digest: D('c'), size: 5 }],
    });
  });
});
