import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { canonicalJson, jsonBlob } from './canonical-json.js';
import { parseImageConfig, type ImageConfig } from './config.js';
import type { Descriptor } from './descriptor.js';
import { Digester, digestOf, parseDigest, verifyDigest, type Digest, type DigestAlgorithm } from './digest.js';
import { DigestMismatchError, InvalidArgumentError, NotFoundError } from './errors.js';
import { parseAnyManifest, type ImageIndex, type ImageManifest, MAX_MANIFEST_SIZE } from './manifest.js';
import { MediaType } from './media-types.js';
import { hostPlatform, selectManifest, type PlatformPolicy } from './platform.js';
import type { Platform } from './platform-types.js';
import { extractTar, TarWriter } from './tar.js';
import { fail, object, parseJsonBytes } from './validate.js';

export const OCI_LAYOUT_VERSION = '1.0.0';
/** The tag of an index entry, as skopeo (`oci:DIR:TAG`) and umoci write it. */
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
/** The full image name docker save / containerd put beside the ref name. */
export const ANNOTATION_IMAGE_NAME = 'io.containerd.image.name';

export interface LayoutEntry {
  /** `org.opencontainers.image.ref.name`, if any. */
  refName: string | undefined;
  /** `io.containerd.image.name`, if any. */
  imageName: string | undefined;
  descriptor: Descriptor;
}

export interface ResolvedImage {
  /** The image manifest's descriptor (after descending through any index). */
  descriptor: Descriptor;
  manifest: ImageManifest;
  config: ImageConfig;
  /** The exact config bytes (their digest is the image ID). */
  configBytes: Buffer;
}

/**
 * An OCI image layout directory (oci-layout, index.json, blobs/<alg>/<hex>).
 * Blobs are written by streaming through a digester into a temp file that is renamed
 * into place only once digest and size check out. Index changes are kept in memory
 * until {@link OciLayout.save} writes index.json atomically.
 */
export class OciLayout {
  readonly dir: string;
  index: ImageIndex;

  private constructor(dir: string, index: ImageIndex) {
    this.dir = dir;
    this.index = index;
  }

  /** Opens an existing layout; NotFound when `dir` has no oci-layout file. */
  static async read(dir: string): Promise<OciLayout> {
    let layoutBytes: Buffer;
    try {
      layoutBytes = await readFile(join(dir, 'oci-layout'));
    } catch (err) {
      throw new NotFoundError(`${dir}: not an OCI image layout (no oci-layout file)`, { cause: err });
    }
    const layout = object(parseJsonBytes(layoutBytes, 'oci-layout', 4096), 'oci-layout');
    if (typeof layout.imageLayoutVersion !== 'string' || !layout.imageLayoutVersion.startsWith('1.')) {
      fail('oci-layout.imageLayoutVersion', `unsupported version ${JSON.stringify(layout.imageLayoutVersion)}`);
    }
    const indexBytes = await readFile(join(dir, 'index.json')).catch((err: unknown) => {
      throw new NotFoundError(`${dir}: OCI layout has no index.json`, { cause: err });
    });
    const parsed = parseAnyManifest(indexBytes, MediaType.OciIndex);
    if (parsed.kind !== 'index') fail('index.json', 'is not an image index');
    return new OciLayout(dir, parsed.index);
  }

  /** Opens the layout in `dir`, creating an empty one (and `dir`) when absent. */
  static async open(dir: string): Promise<OciLayout> {
    const exists = await stat(join(dir, 'oci-layout')).then(() => true, () => false);
    if (exists) return OciLayout.read(dir);
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(dir, 'oci-layout'), canonicalJson({ imageLayoutVersion: OCI_LAYOUT_VERSION }));
    const layout = new OciLayout(dir, { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] });
    await layout.save();
    return layout;
  }

  blobPath(digest: Digest): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.dir, 'blobs', algorithm, hex);
  }

  async hasBlob(digest: Digest): Promise<boolean> {
    try {
      return (await stat(this.blobPath(digest))).isFile();
    } catch {
      return false;
    }
  }

  /**
   * Streams `source` into the blob store. With `expected`, the digest (and size) must
   * match or nothing is stored and DigestMismatch is thrown.
   */
  async writeBlob(
    source: Readable | AsyncIterable<Uint8Array> | Uint8Array,
    expected?: { digest?: Digest; size?: number },
  ): Promise<{ digest: Digest; size: number }> {
    const algorithm: DigestAlgorithm = expected?.digest ? parseDigest(expected.digest).algorithm : 'sha256';
    if (expected?.digest && (await this.hasBlob(expected.digest))) {
      if (!(source instanceof Uint8Array) && 'destroy' in source) (source as Readable).destroy();
      return { digest: expected.digest, size: (await stat(this.blobPath(expected.digest))).size };
    }
    const dir = join(this.dir, 'blobs', algorithm);
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `.tmp-${randomBytes(8).toString('hex')}`);
    const digester = new Digester(algorithm);
    try {
      const input = source instanceof Uint8Array ? Readable.from([source]) : source;
      await pipeline(input, digester, createWriteStream(tmp));
      const digest = digester.digest();
      if (expected?.digest) verifyDigest(expected.digest, digest, 'blob');
      if (expected?.size !== undefined && expected.size !== digester.size) {
        throw new DigestMismatchError(`${expected.size} bytes`, `${digester.size} bytes`, `size of blob ${digest}`);
      }
      await rename(tmp, this.blobPath(digest));
      return { digest, size: digester.size };
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /** Writes `value` as canonical JSON and returns its descriptor. */
  async writeJson(value: unknown, mediaType: string): Promise<Descriptor> {
    const blob = jsonBlob(value, mediaType);
    await this.writeBlob(blob.bytes, blob.descriptor);
    return blob.descriptor;
  }

  /** A stream of the blob's bytes (not verified: pipe it through a Digester to check). */
  openBlob(digest: Digest): Readable {
    return createReadStream(this.blobPath(digest));
  }

  /** Reads a small blob whole and verifies its digest. */
  async readBlob(digest: Digest, maxBytes = MAX_MANIFEST_SIZE * 2): Promise<Buffer> {
    const path = this.blobPath(digest);
    const st = await stat(path).catch((err: unknown) => {
      throw new NotFoundError(`blob ${digest} not found in ${this.dir}`, { cause: err });
    });
    if (st.size > maxBytes) throw new InvalidArgumentError(`blob ${digest}: ${st.size} bytes exceeds the ${maxBytes}-byte limit`);
    const bytes = await readFile(path);
    verifyDigest(digest, digestOf(bytes, parseDigest(digest).algorithm), `blob ${digest}`);
    return bytes;
  }

  /** The index entries with their names. */
  list(): LayoutEntry[] {
    return this.index.manifests.map((descriptor) => ({
      refName: descriptor.annotations?.[ANNOTATION_REF_NAME],
      imageName: descriptor.annotations?.[ANNOTATION_IMAGE_NAME],
      descriptor,
    }));
  }

  /**
   * Adds a manifest or index to index.json. With `refName`, the entry is annotated
   * with it and any other entry with the same name loses it (a tag moves).
   */
  addManifest(descriptor: Descriptor, refName?: string, annotations: Record<string, string> = {}): void {
    const entry: Descriptor = { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size };
    if (descriptor.platform) entry.platform = descriptor.platform;
    if (descriptor.artifactType) entry.artifactType = descriptor.artifactType;
    const ann = { ...descriptor.annotations, ...annotations, ...(refName !== undefined ? { [ANNOTATION_REF_NAME]: refName } : {}) };
    if (Object.keys(ann).length > 0) entry.annotations = ann;
    let manifests = this.index.manifests;
    if (refName !== undefined) manifests = manifests.filter((d) => d.annotations?.[ANNOTATION_REF_NAME] !== refName);
    this.index = { ...this.index, manifests: [...manifests, entry] };
  }

  /** Writes index.json (canonical JSON, atomically). */
  async save(): Promise<void> {
    const tmp = join(this.dir, `.index.json.${randomBytes(6).toString('hex')}`);
    await writeFile(tmp, canonicalJson(this.index));
    await rename(tmp, join(this.dir, 'index.json'));
  }

  /**
   * Finds the index entry for `ref`: its ref name (`latest`), its full image name
   * (`docker.io/library/busybox:latest`), or, when `ref` is omitted, the only entry.
   */
  resolve(ref?: string): Descriptor {
    const entries = this.list();
    if (ref === undefined) {
      if (entries.length === 1) return entries[0]!.descriptor;
      throw new InvalidArgumentError(`${this.dir}: has ${entries.length} images; name one of: ${names(entries)}`);
    }
    const hit = entries.find((e) => e.refName === ref) ?? entries.find((e) => e.imageName === ref);
    if (!hit) throw new NotFoundError(`${this.dir}: no image named "${ref}" (has: ${names(entries) || 'none'})`);
    return hit.descriptor;
  }

  /**
   * Resolves `ref` to an image manifest and its config, descending through indexes by
   * platform (default: this host), validating every document on the way.
   */
  async resolveImage(ref?: string, platform: Platform = hostPlatform(), policy?: PlatformPolicy): Promise<ResolvedImage> {
    return this.imageFor(this.resolve(ref), platform, policy);
  }

  /** Like {@link resolveImage}, starting from a descriptor (an index entry, say). */
  async imageFor(start: Descriptor, platform: Platform = hostPlatform(), policy?: PlatformPolicy): Promise<ResolvedImage> {
    let descriptor = start;
    for (let depth = 0; depth < 8; depth++) {
      const any = parseAnyManifest(await this.readBlob(descriptor.digest), descriptor.mediaType);
      if (any.kind === 'index') {
        descriptor = selectManifest(any.index, platform, policy);
        continue;
      }
      const configBytes = await this.readBlob(any.manifest.config.digest);
      return { descriptor, manifest: any.manifest, config: parseImageConfig(configBytes), configBytes };
    }
    throw new InvalidArgumentError(`${this.dir}: indexes nested deeper than 8 levels`);
  }

  /** A tar stream of the whole layout (oci-layout, index.json, blobs/...), streamed blob by blob. */
  pack(): Readable {
    const writer = new TarWriter();
    const run = async () => {
      await writer.addBuffer('oci-layout', await readFile(join(this.dir, 'oci-layout')));
      await writer.addBuffer('index.json', await readFile(join(this.dir, 'index.json')));
      await writer.addDirectory('blobs/');
      for (const alg of (await readdir(join(this.dir, 'blobs'))).sort()) {
        await writer.addDirectory(`blobs/${alg}/`);
        for (const hex of (await readdir(join(this.dir, 'blobs', alg))).sort()) {
          if (hex.startsWith('.')) continue;
          const path = join(this.dir, 'blobs', alg, hex);
          await writer.addStream(`blobs/${alg}/${hex}`, (await stat(path)).size, createReadStream(path));
        }
      }
      writer.finalize();
    };
    run().catch((err: unknown) => writer.abort(err as Error));
    return Readable.from(writer.stream as unknown as AsyncIterable<Buffer>);
  }
}

function names(entries: LayoutEntry[]): string {
  return entries.map((e) => e.refName ?? e.imageName ?? e.descriptor.digest).join(', ');
}

/** Opens the OCI layout in `dir` for reading and writing, creating it when absent. */
export function openOciLayout(dir: string): Promise<OciLayout> {
  return OciLayout.open(dir);
}

/** Opens an existing OCI layout for reading (listing images, resolving refs, blobs). */
export function readOciLayout(dir: string): Promise<OciLayout> {
  return OciLayout.read(dir);
}

/**
 * Extracts an OCI layout carried in a tar stream into `dir` and opens it. Every blob's
 * content is checked against its name; entries outside the layout are ignored.
 */
export async function extractOciLayout(tar: Readable, dir: string): Promise<OciLayout> {
  await mkdir(dir, { recursive: true });
  const entries = await extractTar(tar, dir, (name) => name === 'oci-layout' || name === 'index.json' || name.startsWith('blobs/'));
  await verifyBlobNames(entries);
  return OciLayout.read(dir);
}

/** Checks that `blobs/sha256/<hex>` entries hash to their names. */
export async function verifyBlobNames(entries: Map<string, { type: string; digest?: Digest }>): Promise<void> {
  for (const [name, e] of entries) {
    const m = /^blobs\/(sha256)\/([a-f0-9]{64})$/.exec(name);
    if (!m || e.type !== 'file') continue;
    const expected = `${m[1]}:${m[2]}` as Digest;
    if (e.digest !== expected) throw new DigestMismatchError(expected, e.digest ?? 'none', name);
  }
}
