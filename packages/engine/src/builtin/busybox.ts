import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import tar from 'tar-stream';
import { MediaType, NotFoundError, hostPlatform, openOciLayout, type ImageConfig } from '@berth/image-format';

const run = promisify(execFile);

export const BUSYBOX_PATH = '/bin/busybox';
const MTIME = new Date('2024-01-01T00:00:00Z');

/**
 * Builds `busybox:latest` as a one-layer OCI layout in `dir` from the host's static
 * busybox (Debian's busybox-static): the binary, a symlink per applet, and a minimal
 * /etc. Fixed mtimes and sorted entries make the same binary give the same image ID.
 * Resolves with the layout's ref name.
 */
export async function buildBusyboxLayout(dir: string, binary = BUSYBOX_PATH): Promise<string> {
  const st = await stat(binary).catch(() => {
    throw new NotFoundError(`no static busybox at ${binary} (install busybox-static) to build the built-in busybox image`);
  });
  const { stdout } = await run(binary, ['--list-full']);
  const applets = [...new Set(stdout.split('\n').map((l) => l.trim()).filter((l) => l && l !== 'bin/busybox'))].sort();
  const pack = tar.pack();
  const layout = await openOciLayout(dir);
  const written = layout.writeBlob(pack as unknown as import("node:stream").Readable);
  const dirs = ['bin', 'dev', 'etc', 'home', 'proc', 'root', 'sbin', 'sys', 'tmp', 'usr', 'usr/bin', 'usr/sbin', 'var', 'var/www'];
  const entry = (h: Partial<tar.Header> & { name: string }, body?: Buffer | string): Promise<void> =>
    new Promise((resolve, reject) => pack.entry({ uid: 0, gid: 0, mtime: MTIME, ...h } as tar.Header, body as Buffer, (err) => (err ? reject(err) : resolve())));
  for (const d of dirs) await entry({ name: d + '/', type: 'directory', mode: d === 'tmp' ? 0o1777 : d === 'root' ? 0o700 : 0o755 });
  await new Promise<void>((resolve, reject) => {
    const e = pack.entry({ name: 'bin/busybox', type: 'file', mode: 0o755, size: st.size, uid: 0, gid: 0, mtime: MTIME }, (err) => (err ? reject(err) : resolve()));
    createReadStream(binary).pipe(e);
  });
  await entry({ name: 'etc/passwd', type: 'file', mode: 0o644 }, 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n');
  await entry({ name: 'etc/group', type: 'file', mode: 0o644 }, 'root:x:0:\nnogroup:x:65534:\n');
  for (const a of applets) await entry({ name: a, type: 'symlink', linkname: '/bin/busybox', mode: 0o777 });
  pack.finalize();
  const layer = await written;
  const platform = hostPlatform();
  const config: ImageConfig = {
    created: MTIME.toISOString(),
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: [layer.digest] },
    history: [{ created: MTIME.toISOString(), created_by: 'berth: built-in busybox from the host\'s busybox-static' }],
  };
  const configDesc = await layout.writeJson(config, MediaType.OciConfig);
  const manifestDesc = await layout.writeJson(
    { schemaVersion: 2, mediaType: MediaType.OciManifest, config: configDesc, layers: [{ mediaType: MediaType.OciLayer, digest: layer.digest, size: layer.size }] },
    MediaType.OciManifest,
  );
  layout.addManifest(manifestDesc, 'latest', { 'io.containerd.image.name': 'docker.io/library/busybox:latest' });
  await layout.save();
  return 'latest';
}
