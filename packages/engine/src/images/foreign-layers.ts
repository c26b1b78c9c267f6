// Foreign (non-distributable) layers: Windows base layers that registries did not serve,
// fetched from their `urls`. Docker remembers each one's descriptor through save and load
// (manifest.json LayerSources) and, on push, names it in the manifest without uploading it.
import {
  MediaType,
  canonicalJson,
  isNonDistributable,
  type Descriptor,
  type Digest,
  type ImageManifest,
} from '@berth/image-format';
import type { LayerRecord } from './table.js';

/** The layer's foreign descriptor: the one an archive gave, else the pulled one when it is foreign with urls. */
export function foreignSource(layer: Descriptor, fromArchive: Descriptor | undefined): Descriptor | undefined {
  if (fromArchive) return fromArchive;
  if (!isNonDistributable(layer.mediaType) || !layer.urls?.length) return undefined;
  return { mediaType: layer.mediaType, digest: layer.digest, size: layer.size, urls: [...layer.urls] };
}

const DOCKER_LAYER: Record<string, string> = {
  [MediaType.OciLayer]: MediaType.DockerLayer,
  [MediaType.OciLayerGzip]: MediaType.DockerLayerGzip,
};

/**
 * The manifest for an image made or loaded locally. OCI by default; Docker schema2 when a
 * layer is Docker-foreign, since a registry takes Docker's foreign media type only in a
 * Docker manifest (and that is what Docker pushes).
 */
export function localManifest(configBytes: string, id: Digest, layers: LayerRecord[]): { bytes: Buffer; mediaType: string } {
  const docker = layers.some((l) => l.source?.mediaType.startsWith('application/vnd.docker.'));
  const mediaType = docker ? MediaType.DockerManifest : MediaType.OciManifest;
  const manifest = {
    schemaVersion: 2,
    mediaType,
    config: { mediaType: docker ? MediaType.DockerConfig : MediaType.OciConfig, digest: id, size: Buffer.byteLength(configBytes) },
    layers: layers.map((l) =>
      l.source ?? { mediaType: docker ? (DOCKER_LAYER[l.mediaType] ?? l.mediaType) : l.mediaType, digest: l.digest as Digest, size: l.size },
    ),
  } as ImageManifest;
  return { bytes: Buffer.from(canonicalJson(manifest)), mediaType };
}
