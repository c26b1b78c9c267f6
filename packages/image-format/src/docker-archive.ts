import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { canonicalJson, manifestBlob } from './canonical-json.js';
import { parseImageConfig, type ImageConfig } from './config.js';
import { Digester, digestOf, parseDigest, type Digest } from './digest.js';
import { DigestMismatchError, InvalidArgumentError, UnsupportedError } from './errors.js';
import type { ImageManifest } from './manifest.js';
import { isNonDistributable, layerCompression, MediaType } from './media-types.js';
import { validateDescriptor, type Descriptor } from './descriptor.js';
import { ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, OCI_LAYOUT_VERSION, OciLayout, verifyBlobNames } from './oci-layout.js';
import type { Platform } from './platform-types.js';
import type { PlatformPolicy } from './platform.js';
import { normalizeReference } from './reference.js';
import { extractTar, TarWriter, type ExtractedEntry } from './tar.js';
import { array, fail, object, optArray, parseJsonBytes, string } from './validate.js';

/** One uncompressed layer tar to write; `diffId` is checked while it streams. */
export interface ArchiveLayerSource {
  diffId: Digest;
  size: number;
  /**
   * Where the layer comes from when it is not the registry's to serve (a foreign or
   * non-distributable layer with `urls`): written as manifest.json's LayerSources, as
   * Docker does, so a load keeps the layer foreign and a later push leaves it out.
   */
  source?: Descriptor;
  open(): Readable | AsyncIterable<Uint8Array> | Promise<Readable | AsyncIterable<Uint8Array>>;
}

export interface ArchiveImageSource {
  /** The image config bytes, written unchanged (their digest is the image ID). */
  config: Uint8Array;
  /** Uncompressed layers, bottom first, matching config.rootfs.diff_ids. */
  layers: ArchiveLayerSource[];
  /** References to tag the image with, e.g. `busybox:latest`. */
  repoTags?: string[];
}

const blobName = (d: Digest) => {
  const { algorithm, hex } = parseDigest(d);
  return `blobs/${algorithm}/${hex}`;
};

/**
 * Writes the `docker save` format of Engine 25+: an OCI layout (oci-layout,
 * index.json, blobs/sha256/...) and, in the same tar, the legacy manifest.json and
 * repositories files pointing at the same blobs. Layers stream one at a time.
 */
export async function writeDockerArchive(out: Writable, images: ArchiveImageSource[]): Promise<void> {
  const writer = new TarWriter();
  const piped = pipeline(Readable.from(writer.stream as unknown as AsyncIterable<Buffer>), out);
  piped.catch(() => undefined);
  const produce = async () => {
    const written = new Set<string>();
    const legacy: Array<{ Config: string; RepoTags: string[]; Layers: string[]; LayerSources?: Record<string, Descriptor> }> = [];
    const repositories: Record<string, Record<string, string>> = {};
    const indexEntries: unknown[] = [];
    await writer.addDirectory('blobs/');
    await writer.addDirectory('blobs/sha256/');
    for (const [i, image] of images.entries()) {
      const path = `images[${i}]`;
      const config = parseImageConfig(image.config);
      const diffIds = config.rootfs.diff_ids;
      if (diffIds.length !== image.layers.length || diffIds.some((d, j) => d !== image.layers[j]!.diffId)) {
        fail(`${path}.layers`, `do not match config.rootfs.diff_ids (${diffIds.length} layers expected)`);
      }
      const configDigest = digestOf(image.config);
      if (!written.has(configDigest)) {
        await writer.addBuffer(blobName(configDigest), image.config);
        written.add(configDigest);
      }
      for (const [j, layer] of image.layers.entries()) {
        if (written.has(layer.diffId)) continue;
        const hash = createHash(parseDigest(layer.diffId).algorithm);
        let size = 0;
        const source = await layer.open();
        const checked = (async function* () {
          for await (const chunk of source) {
            hash.update(chunk);
            size += chunk.length;
            yield chunk;
          }
        })();
        try {
          await writer.addStream(blobName(layer.diffId), layer.size, checked);
        } catch (err) {
          // The tar closed under us (its reader went away) before `checked` ran: the
          // source was never read, so nothing else closes it (a blob's file handle).
          (source as Partial<Readable>).destroy?.();
          throw err;
        }
        const actual = `${parseDigest(layer.diffId).algorithm}:${hash.digest('hex')}`;
        if (size !== layer.size || actual !== layer.diffId) {
          throw new DigestMismatchError(layer.diffId, actual, `${path}.layers[${j}]`);
        }
        written.add(layer.diffId);
      }
      const manifest: ImageManifest = {
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { mediaType: MediaType.OciConfig, digest: configDigest, size: image.config.length },
        layers: image.layers.map((l) => ({ mediaType: MediaType.OciLayer, digest: l.diffId, size: l.size })),
      };
      const blob = manifestBlob(manifest);
      if (!written.has(blob.descriptor.digest)) {
        await writer.addBuffer(blobName(blob.descriptor.digest), blob.bytes);
        written.add(blob.descriptor.digest);
      }
      const tags = (image.repoTags ?? []).map((t, k) => {
        let ref;
        try {
          ref = normalizeReference(t);
        } catch (err) {
          fail(`${path}.repoTags[${k}]`, (err as Error).message);
        }
        if (ref.digest) fail(`${path}.repoTags[${k}]`, `"${t}" has a digest; tags only`);
        return ref;
      });
      for (const ref of tags) {
        indexEntries.push({ ...blob.descriptor, annotations: { [ANNOTATION_IMAGE_NAME]: ref.toString(), [ANNOTATION_REF_NAME]: ref.tag } });
        (repositories[ref.familiarName()] ??= {})[ref.tag!] = parseDigest(diffIds.at(-1) ?? configDigest).hex;
      }
      if (tags.length === 0) indexEntries.push(blob.descriptor);
      const sources = image.layers.filter((l) => l.source !== undefined);
      legacy.push({
        Config: blobName(configDigest),
        RepoTags: tags.map((r) => r.familiar()),
        Layers: image.layers.map((l) => blobName(l.diffId)),
        ...(sources.length > 0 ? { LayerSources: Object.fromEntries(sources.map((l) => [l.diffId, l.source!])) } : {}),
      });
    }
    const index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: indexEntries };
    await writer.addBuffer('index.json', Buffer.from(canonicalJson(index)));
    await writer.addBuffer('manifest.json', Buffer.from(JSON.stringify(legacy)));
    await writer.addBuffer('oci-layout', Buffer.from(canonicalJson({ imageLayoutVersion: OCI_LAYOUT_VERSION })));
    if (Object.keys(repositories).length > 0) await writer.addBuffer('repositories', Buffer.from(canonicalJson(repositories)));
    writer.finalize();
  };
  // If the destination fails (a client went away) stop producing instead of waiting
  // forever for a drain that will not come.
  const destinationFailed = piped.then(() => new Promise<never>(() => undefined));
  try {
    const producing = produce();
    producing.catch(() => undefined); // its own failure is reported through the race
    await Promise.race([producing, destinationFailed]);
  } catch (err) {
    writer.abort(err as Error);
    await piped.catch(() => undefined);
    throw err;
  }
  await piped;
}

/**
 * Builds an archive source from an image in an OCI layout. Compressed layers are
 * decompressed into `scratchDir` (caller-owned) first, since a tar entry needs its size.
 */
export async function archiveImageFromLayout(
  layout: OciLayout,
  options: { ref?: string; repoTags?: string[]; scratchDir: string; platform?: Platform; policy?: PlatformPolicy },
): Promise<ArchiveImageSource> {
  const image = await layout.resolveImage(options.ref, options.platform, options.policy);
  const diffIds = image.config.rootfs.diff_ids;
  if (diffIds.length !== image.manifest.layers.length) {
    fail('config.rootfs.diff_ids', `has ${diffIds.length} entries but the manifest has ${image.manifest.layers.length} layers`);
  }
  await mkdir(options.scratchDir, { recursive: true });
  const layers: ArchiveLayerSource[] = [];
  for (const [i, layer] of image.manifest.layers.entries()) {
    const diffId = diffIds[i]!;
    const compression = layerCompression(layer.mediaType);
    if (compression === 'none') {
      layers.push({ diffId, size: layer.size, open: () => layout.openBlob(layer.digest) });
    } else if (compression === 'gzip') {
      const path = join(options.scratchDir, parseDigest(diffId).hex + '.tar');
      const digester = new Digester();
      await pipeline(layout.openBlob(layer.digest), createGunzip(), digester, createWriteStream(path));
      if (digester.digest() !== diffId) throw new DigestMismatchError(diffId, digester.digest(), `manifest.layers[${i}] (uncompressed)`);
      layers.push({ diffId, size: digester.size, open: () => createReadStream(path) });
    } else {
      throw new UnsupportedError(`manifest.layers[${i}].mediaType: cannot write "${layer.mediaType}" to a docker archive`);
    }
  }
  return { config: image.configBytes, layers, ...(options.repoTags ? { repoTags: options.repoTags } : {}) };
}

export interface ArchiveLayer {
  diffId: Digest;
  /** Absolute path of the extracted layer file. */
  path: string;
  /** 'gzip' when the archive carried the layer compressed (docker load accepts that). */
  compression: 'none' | 'gzip';
  /** The layer's foreign descriptor (manifest.json LayerSources): keep it when recording the layer. */
  source?: Descriptor;
}

export interface ArchiveImage {
  repoTags: string[];
  /** The config digest: the image ID. */
  configDigest: Digest;
  config: ImageConfig;
  configBytes: Buffer;
  layers: ArchiveLayer[];
}

export interface DockerArchive {
  dir: string;
  /** 'oci' when the archive also carries an OCI layout (Engine 25+), else 'legacy'. */
  format: 'oci' | 'legacy';
  images: ArchiveImage[];
}

/**
 * Extracts a docker-archive (`docker save`, legacy or Engine 25+ form, also skopeo's)
 * from a tar stream into `dir` without buffering layers, then reads manifest.json and
 * verifies every config and layer against its digest. With the Engine 25+ form,
 * {@link readOciLayout}(dir) opens the embedded OCI layout too.
 */
export async function extractDockerArchive(tar: Readable, dir: string): Promise<DockerArchive> {
  await mkdir(dir, { recursive: true });
  const entries = await extractTar(tar, dir);
  await verifyBlobNames(entries);
  return readArchiveDir(dir, entries);
}

function follow(entries: Map<string, ExtractedEntry>, name: string, what: string): [string, ExtractedEntry] {
  let n = posix.normalize(name);
  for (let i = 0; i < 16; i++) {
    const e = entries.get(n);
    if (!e) fail(what, `"${name}" is not in the archive`);
    if (e.type === 'file') return [n, e];
    n = e.linkname!;
  }
  fail(what, `"${name}": too many symlinks`);
}

async function isGzip(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(2), 0, 2, 0);
    return bytesRead === 2 && buffer[0] === 0x1f && buffer[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

/** Checks a layer file against its DiffID, hashing the decompressed stream for gzip. */
async function checkDiffId(file: string, fileDigest: Digest | undefined, gzip: boolean, diffId: Digest, what: string): Promise<void> {
  let actual: string = fileDigest ?? 'none';
  if (gzip) {
    const d = new Digester();
    await pipeline(createReadStream(file), createGunzip(), d, async (src: AsyncIterable<Buffer>) => {
      for await (const chunk of src) void chunk;
    });
    actual = d.digest();
  }
  if (actual !== diffId) throw new DigestMismatchError(diffId, actual, what);
}

async function imagesFromLayout(layout: OciLayout): Promise<ArchiveImage[]> {
  const images: ArchiveImage[] = [];
  for (const [i, entry] of layout.list().entries()) {
    const image = await layout.imageFor(entry.descriptor);
    const diffIds = image.config.rootfs.diff_ids;
    if (diffIds.length !== image.manifest.layers.length) {
      fail(`index.manifests[${i}]`, `config has ${diffIds.length} diff_ids but the manifest has ${image.manifest.layers.length} layers`);
    }
    const layers: ArchiveLayer[] = [];
    for (const [j, l] of image.manifest.layers.entries()) {
      const compression = layerCompression(l.mediaType);
      if (compression !== 'none' && compression !== 'gzip') {
        throw new UnsupportedError(`manifest.layers[${j}].mediaType: cannot load "${l.mediaType}"`);
      }
      const path = layout.blobPath(l.digest);
      await checkDiffId(path, l.digest, compression === 'gzip', diffIds[j]!, `manifest.layers[${j}]`);
      layers.push({ diffId: diffIds[j]!, path, compression });
    }
    const name = entry.imageName ?? entry.refName;
    images.push({
      repoTags: name !== undefined && entry.imageName !== undefined ? [normalizeReference(name).familiar()] : [],
      configDigest: image.manifest.config.digest,
      config: image.config,
      configBytes: image.configBytes,
      layers,
    });
  }
  return images;
}

/** manifest.json's LayerSources: diffID -> the descriptor of a layer the registry does not serve. */
function layerSources(value: unknown, path: string): Map<string, Descriptor> {
  const out = new Map<string, Descriptor>();
  if (value === undefined || value === null) return out;
  for (const [diffId, d] of Object.entries(object(value, path))) {
    parseDigest(diffId);
    const desc = validateDescriptor(d, `${path}["${diffId}"]`);
    if (!isNonDistributable(desc.mediaType) || !desc.urls?.length) {
      fail(`${path}["${diffId}"]`, `is not a foreign layer with urls (mediaType "${desc.mediaType}")`);
    }
    out.set(diffId, desc);
  }
  return out;
}

async function readArchiveDir(dir: string, entries: Map<string, ExtractedEntry>): Promise<DockerArchive> {
  const hasLayout = await stat(join(dir, 'oci-layout')).then(() => true, () => false);
  const bytes = await readFile(join(dir, 'manifest.json')).catch((err: unknown) => {
    if (hasLayout) return undefined;
    throw new InvalidArgumentError('docker-archive: no manifest.json and no oci-layout (not a docker save archive)', { cause: err });
  });
  // A bare OCI layout tar, which docker load accepts since Engine 25.
  if (bytes === undefined) return { dir, format: 'oci', images: await imagesFromLayout(await OciLayout.read(dir)) };
  const list = array(parseJsonBytes(bytes, 'manifest.json', 16 * 1024 * 1024), 'manifest.json', object);
  const images: ArchiveImage[] = [];
  for (const [i, item] of list.entries()) {
    const path = `manifest.json[${i}]`;
    const configName = string(item.Config, `${path}.Config`);
    const [configFile, configEntry] = follow(entries, configName, `${path}.Config`);
    const configBytes = await readFile(join(dir, configFile));
    const named = /(?:^|\/)([a-f0-9]{64})(?:\.json)?$/.exec(configFile);
    if (named && configEntry.digest !== `sha256:${named[1]}`) {
      throw new DigestMismatchError(`sha256:${named[1]}`, configEntry.digest ?? 'none', `${path}.Config`);
    }
    const config = parseImageConfig(configBytes);
    const repoTags = optArray(item.RepoTags, `${path}.RepoTags`, string) ?? [];
    const layerNames = array(item.Layers, `${path}.Layers`, string);
    const diffIds = config.rootfs.diff_ids;
    if (layerNames.length !== diffIds.length) {
      fail(`${path}.Layers`, `has ${layerNames.length} layers but the config has ${diffIds.length} diff_ids`);
    }
    const sources = layerSources(item.LayerSources, `${path}.LayerSources`);
    const layers: ArchiveLayer[] = [];
    for (const [j, layerName] of layerNames.entries()) {
      const [file, entry] = follow(entries, layerName, `${path}.Layers[${j}]`);
      const abs = join(dir, file);
      const diffId = diffIds[j]!;
      const gzip = entry.digest !== diffId && (await isGzip(abs));
      await checkDiffId(abs, entry.digest, gzip, diffId, `${path}.Layers[${j}]`);
      const source = sources.get(diffId);
      layers.push({ diffId, path: abs, compression: gzip ? 'gzip' : 'none', ...(source ? { source } : {}) });
    }
    images.push({ repoTags, configDigest: digestOf(configBytes), config, configBytes, layers });
  }
  return { dir, format: hasLayout ? 'oci' : 'legacy', images };
}
