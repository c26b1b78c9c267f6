import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { digestOf, type Digest } from '@berth/image-format';
import { encodeHeader, padding, TAR_END, type TarHeader } from '../archive/tar-writer.js';

export interface TestEntry extends Partial<Omit<TarHeader, 'name' | 'type'>> {
  name: string;
  type?: TarHeader['type'];
  content?: string | Buffer;
}

/** A small layer tar built in memory, for tests (hostile ones included: names are raw). */
export function buildTar(entries: TestEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const content = e.content === undefined ? Buffer.alloc(0) : Buffer.from(e.content);
    const type = e.type ?? 'file';
    parts.push(
      encodeHeader({
        name: e.name,
        type,
        mode: e.mode ?? (type === 'dir' ? 0o755 : 0o644),
        uid: e.uid ?? 0,
        gid: e.gid ?? 0,
        size: type === 'file' ? content.length : 0,
        mtime: e.mtime ?? 1_700_000_000,
        ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
        ...(e.devmajor !== undefined ? { devmajor: e.devmajor } : {}),
        ...(e.devminor !== undefined ? { devminor: e.devminor } : {}),
        ...(e.xattrs ? { xattrs: e.xattrs } : {}),
      }),
    );
    if (type === 'file' && content.length) parts.push(content, Buffer.alloc(padding(content.length)));
  }
  parts.push(TAR_END);
  return Buffer.concat(parts);
}

export interface TestLayer {
  tar: Buffer;
  blob: Buffer;
  digest: Digest;
  diffId: Digest;
  mediaType: string;
}

export function buildLayer(entries: TestEntry[], compression: 'gzip' | 'zstd' | 'none' = 'gzip'): TestLayer {
  const tar = buildTar(entries);
  let blob = tar;
  let mediaType = 'application/vnd.oci.image.layer.v1.tar';
  if (compression === 'gzip') {
    blob = gzipSync(tar);
    mediaType += '+gzip';
  } else if (compression === 'zstd') {
    const r = spawnSync('zstd', ['-c', '-q'], { input: tar, maxBuffer: 1 << 30 });
    if (r.status !== 0) throw new Error(`zstd failed: ${r.stderr.toString()}`);
    blob = r.stdout;
    mediaType += '+zstd';
  }
  return { tar, blob, digest: digestOf(blob), diffId: digestOf(tar), mediaType };
}
