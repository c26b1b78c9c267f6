// Builds tiny images for tests with tar-stream + zlib (no fixtures needed).
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import {
  digestOf, MediaType, type Descriptor, type Digest, type OciLayout, type Platform,
} from '../src/index.js';

export async function layerTar(files: Record<string, string>): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c) => chunks.push(c as Buffer));
  const ended = new Promise<void>((r) => p.on('end', () => r()));
  for (const [name, content] of Object.entries(files)) {
    p.entry({ name, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 }, content);
  }
  p.finalize();
  await ended;
  return Buffer.concat(chunks);
}

export interface TinyImage {
  manifest: Descriptor;
  config: Descriptor;
  configBytes: Buffer;
  diffIds: Digest[];
  layers: Descriptor[];
  tars: Buffer[];
}

/** Writes a two-layer image (gzip or plain layers) into `layout` and tags it. */
export async function writeTinyImage(
  layout: OciLayout,
  tag: string | undefined,
  opts: { gzip?: boolean; platform?: Platform; seed?: string } = {},
): Promise<TinyImage> {
  const seed = opts.seed ?? 'x';
  const tars = [await layerTar({ 'hello.txt': `hello ${seed}\n` }), await layerTar({ 'etc/motd': `second ${seed}\n` })];
  const layers: Descriptor[] = [];
  for (const tar of tars) {
    const blob = opts.gzip === false ? tar : gzipSync(tar);
    const { digest, size } = await layout.writeBlob(blob);
    layers.push({ mediaType: opts.gzip === false ? MediaType.OciLayer : MediaType.OciLayerGzip, digest, size });
  }
  const diffIds = tars.map((t) => digestOf(t));
  const platform = opts.platform ?? { os: 'linux', architecture: 'amd64' };
  const configValue = {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    created: '2020-01-01T00:00:00Z',
    config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'], Labels: { seed } },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: [{ created_by: 'layer 1' }, { created_by: 'layer 2' }],
  };
  const config = await layout.writeJson(configValue, MediaType.OciConfig);
  const manifest = await layout.writeJson(
    { schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers },
    MediaType.OciManifest,
  );
  if (tag !== undefined) layout.addManifest(manifest, tag);
  await layout.save();
  return { manifest, config, configBytes: await layout.readBlob(config.digest), diffIds, layers, tars };
}
