/**
 * @berth/image-format — the image model. Pure and streaming, no global state.
 *
 * Every validation error is an InvalidArgumentError whose message starts with the
 * offending field path (`manifest.layers[2].digest: invalid digest ...`).
 */
export * from './errors.js';
export * from './digest.js';
export { validateDescriptor, EMPTY_DESCRIPTOR } from './descriptor.js';
export type { Descriptor } from './descriptor.js';
export { validatePlatform } from './platform-types.js';
export type { Platform } from './platform-types.js';
export * from './media-types.js';

// References: docker CLI normalisation (distribution/reference).
export {
  Reference, parseReference, parseRepositoryName, normalizeReference, withDefaultTag, isValidTag,
  DEFAULT_DOMAIN, DEFAULT_TAG, NAME_TOTAL_LENGTH_MAX,
} from './reference.js';

// Manifests, indexes, image configs.
export {
  parseAnyManifest, parseManifest, parseIndex, validateManifest, validateIndex, MAX_MANIFEST_SIZE,
} from './manifest.js';
export type { AnyManifest, ImageManifest, ImageIndex } from './manifest.js';
export { parseImageConfig, validateImageConfig, MAX_CONFIG_SIZE } from './config.js';
export type { ImageConfig, ContainerConfig, HealthConfig, RootFs, History } from './config.js';

// Platforms.
export {
  parsePlatform, formatPlatform, normalizePlatform, hostPlatform, matchPlatform, platformRank, selectManifest, NoMatchingManifestError,
} from './platform.js';
export type { PlatformPolicy, WindowsPolicy } from './platform.js';
export {
  isWindowsImageCompatible, parseWindowsVersion, WINDOWS_BUILD_LTSC2016, WINDOWS_BUILD_LTSC2019,
  WINDOWS_BUILD_LTSC2022, WINDOWS_BUILD_LTSC2025,
} from './windows-version.js';
export type { WindowsIsolation, WindowsVersion } from './windows-version.js';

// Layer identity and the byte form Berth writes JSON in.
export { diffIdToChainId, chainIds } from './chain-id.js';
export { canonicalJson, jsonBlob, manifestBlob } from './canonical-json.js';
export type { Blob } from './canonical-json.js';

// OCI image layout (directory or tar stream).
export {
  OciLayout, openOciLayout, readOciLayout, extractOciLayout, OCI_LAYOUT_VERSION, ANNOTATION_REF_NAME,
  ANNOTATION_IMAGE_NAME,
} from './oci-layout.js';
export type { LayoutEntry, ResolvedImage } from './oci-layout.js';

// docker-archive (`docker save` / `docker load`): legacy and Engine 25+ forms.
export { writeDockerArchive, extractDockerArchive, archiveImageFromLayout } from './docker-archive.js';
export type {
  ArchiveImageSource, ArchiveLayerSource, DockerArchive, ArchiveImage, ArchiveLayer,
} from './docker-archive.js';
