import { digestOf, type Digest } from './digest.js';
import { validateDescriptor, type Descriptor } from './descriptor.js';
import { UnsupportedError } from './errors.js';
import { isIndexMediaType, isManifestMediaType, MediaType } from './media-types.js';
import { array, fail, object, optMediaType, optStringMap, parseJsonBytes, type JsonObject } from './validate.js';

/** Registries (distribution) refuse manifests over 4 MiB; so does Berth. */
export const MAX_MANIFEST_SIZE = 4 * 1024 * 1024;

/** An OCI image manifest or a Docker schema2 manifest (same shape). */
export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** An OCI image index or a Docker manifest list (same shape). */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

interface ParsedCommon {
  /** The effective media type: the document's field, else the hint. */
  mediaType: string;
  /** Digest and size of the exact bytes parsed. */
  digest: Digest;
  size: number;
}
export type AnyManifest =
  | (ParsedCommon & { kind: 'manifest'; manifest: ImageManifest })
  | (ParsedCommon & { kind: 'index'; index: ImageIndex });

const SCHEMA1_MESSAGE =
  'Docker image manifest schema 1 is deprecated and no longer supported; ' +
  'push the image again with a current client to convert it to schema 2 or OCI';

function isSchema1(mediaType: string | undefined): boolean {
  return mediaType === MediaType.DockerManifestSchema1 || mediaType === MediaType.DockerManifestSchema1Signed;
}

/** Strips parameters from a Content-Type (`application/json; charset=utf-8`). */
function bareMediaType(value: string | undefined): string | undefined {
  const bare = value?.split(';')[0]?.trim();
  return bare ? bare : undefined;
}

function effectiveMediaType(o: JsonObject, hintRaw: string | undefined, path: string): string {
  const hint = bareMediaType(hintRaw);
  const field = optMediaType(o.mediaType, `${path}.mediaType`);
  if (o.schemaVersion === 1 || isSchema1(field) || isSchema1(hint)) throw new UnsupportedError(`${path}: ${SCHEMA1_MESSAGE}`);
  if (o.schemaVersion !== 2) fail(`${path}.schemaVersion`, `must be 2, got ${JSON.stringify(o.schemaVersion) ?? 'nothing'}`);
  // A generic Content-Type (application/json, octet-stream) says nothing: ignore it.
  const known = (t: string | undefined) => t !== undefined && (isManifestMediaType(t) || isIndexMediaType(t));
  const usefulHint = known(hint) ? hint : undefined;
  if (field !== undefined && usefulHint !== undefined && field !== usefulHint) {
    fail(`${path}.mediaType`, `"${field}" does not match the expected media type "${usefulHint}"`);
  }
  const mt = field ?? usefulHint;
  if (mt === undefined) {
    fail(`${path}.mediaType`, 'missing, and no media type was given by the descriptor or Content-Type');
  }
  if (!known(mt)) {
    fail(`${path}.mediaType`, `unsupported media type "${mt}"; expected an OCI or Docker schema2 manifest or index`);
  }
  if (field === undefined && mt.startsWith('application/vnd.docker.')) {
    fail(`${path}.mediaType`, `missing; Docker schema2 (${mt}) requires it`);
  }
  return mt;
}

function validateCommon(o: JsonObject, path: string): void {
  optMediaType(o.artifactType, `${path}.artifactType`);
  if (o.subject !== undefined) validateDescriptor(o.subject, `${path}.subject`);
  optStringMap(o.annotations, `${path}.annotations`);
}

/** Validates a parsed image manifest object. */
export function validateManifest(value: unknown, path = 'manifest'): ImageManifest {
  const o = object(value, path);
  if (o.manifests !== undefined) fail(`${path}.manifests`, 'not allowed in an image manifest (is this an index?)');
  validateDescriptor(o.config, `${path}.config`);
  array(o.layers, `${path}.layers`, validateDescriptor);
  validateCommon(o, path);
  return o as unknown as ImageManifest;
}

/** Validates a parsed index / manifest list object. */
export function validateIndex(value: unknown, path = 'index'): ImageIndex {
  const o = object(value, path);
  if (o.config !== undefined || o.layers !== undefined) {
    fail(`${path}.${o.config !== undefined ? 'config' : 'layers'}`, 'not allowed in an index (is this an image manifest?)');
  }
  array(o.manifests, `${path}.manifests`, validateDescriptor);
  validateCommon(o, path);
  return o as unknown as ImageIndex;
}

/**
 * Parses a manifest or index, detecting which by its `mediaType` field, else by the
 * hint (descriptor media type or Content-Type). Refuses schema1 (Unsupported),
 * documents over 4 MiB, malformed JSON, and a field that contradicts the hint.
 */
export function parseAnyManifest(bytes: Uint8Array | string, mediaTypeHint?: string): AnyManifest {
  const value = parseJsonBytes(bytes, 'manifest', MAX_MANIFEST_SIZE);
  const o = object(value, 'manifest');
  const mediaType = effectiveMediaType(o, mediaTypeHint, 'manifest');
  const common = {
    mediaType,
    digest: digestOf(bytes),
    size: typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength,
  };
  if (isIndexMediaType(mediaType)) return { ...common, kind: 'index', index: validateIndex(o, 'index') };
  return { ...common, kind: 'manifest', manifest: validateManifest(o, 'manifest') };
}

/** Parses an image manifest (OCI or Docker schema2); an index is an error. */
export function parseManifest(bytes: Uint8Array | string, mediaTypeHint?: string): ImageManifest {
  const any = parseAnyManifest(bytes, mediaTypeHint);
  if (any.kind !== 'manifest') fail('manifest.mediaType', `"${any.mediaType}" is an index, not an image manifest`);
  return any.manifest;
}

/** Parses an index or manifest list; an image manifest is an error. */
export function parseIndex(bytes: Uint8Array | string, mediaTypeHint?: string): ImageIndex {
  const any = parseAnyManifest(bytes, mediaTypeHint);
  if (any.kind !== 'index') fail('index.mediaType', `"${any.mediaType}" is an image manifest, not an index`);
  return any.index;
}
