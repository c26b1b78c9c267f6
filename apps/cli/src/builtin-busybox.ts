// The built-in busybox image, for a machine that cannot reach a registry: when a pull of
// `busybox` fails, the CLI imports a one-layer image made from the host's static
// /bin/busybox (Debian's busybox-static) through the ordinary import API. Same content
// and fixed mtimes as the engine's own built-in, so repeated imports give one layer.
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { PassThrough, type Readable } from 'node:stream';
import { promisify } from 'node:util';
import type { EngineClient } from '@berth/engine-api';
import { NotFoundError, normalizeReference } from '@berth/image-format';

export const BUSYBOX_BINARY = '/bin/busybox';
const MTIME = Math.floor(Date.parse('2024-01-01T00:00:00Z') / 1000);
const DIRS = ['bin', 'dev', 'etc', 'home', 'proc', 'root', 'sbin', 'sys', 'tmp', 'usr', 'usr/bin', 'usr/sbin', 'var', 'var/www'];

/** True for the references the built-in stands in for: `busybox`, `busybox:latest`, `docker.io/library/busybox:latest`. */
export function isBuiltinBusybox(image: string): boolean {
  try {
    return normalizeReference(image).toString() === 'docker.io/library/busybox:latest';
  } catch {
    return false;
  }
}

interface TarEntry {
  name: string;
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  size?: number;
  linkname?: string;
}

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, '0')}\0`;
}

/** A ustar header block. */
export function tarHeader(e: TarEntry): Buffer {
  const h = Buffer.alloc(512);
  h.write(e.name, 0, 100, 'utf8');
  h.write(octal(e.mode, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(e.type === 'file' ? (e.size ?? 0) : 0, 12), 124, 'ascii');
  h.write(octal(MTIME, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(e.type === 'file' ? '0' : e.type === 'directory' ? '5' : '2', 156, 'ascii');
  if (e.linkname) h.write(e.linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.write('root', 265, 'ascii');
  h.write('root', 297, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

/** The rootfs tar of the built-in busybox, streamed (the binary is never held in memory). */
export async function busyboxRootfsTar(binary = BUSYBOX_BINARY): Promise<Readable> {
  const st = await stat(binary).catch(() => {
    throw new NotFoundError(`no static busybox at ${binary} (install busybox-static) to make the built-in busybox image`);
  });
  const { stdout } = await promisify(execFile)(binary, ['--list-full']);
  const applets = [...new Set(stdout.split('\n').map((l) => l.trim()).filter((l) => l && l !== 'bin/busybox'))].sort();
  const out = new PassThrough();
  const write = async (chunk: Buffer): Promise<void> => {
    if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
  };
  void (async () => {
    for (const d of DIRS) await write(tarHeader({ name: `${d}/`, type: 'directory', mode: d === 'tmp' ? 0o1777 : d === 'root' ? 0o700 : 0o755 }));
    await write(tarHeader({ name: 'bin/busybox', type: 'file', mode: 0o755, size: st.size }));
    for await (const chunk of createReadStream(binary)) await write(chunk as Buffer);
    if (st.size % 512 !== 0) await write(Buffer.alloc(512 - (st.size % 512)));
    const files: [string, string][] = [
      ['etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n'],
      ['etc/group', 'root:x:0:\nnogroup:x:65534:\n'],
    ];
    for (const [name, text] of files) {
      const body = Buffer.from(text);
      await write(tarHeader({ name, type: 'file', mode: 0o644, size: body.length }));
      await write(Buffer.concat([body, Buffer.alloc((512 - (body.length % 512)) % 512)]));
    }
    for (const a of applets) await write(tarHeader({ name: a, type: 'symlink', mode: 0o777, linkname: '/bin/busybox' }));
    await write(Buffer.alloc(1024));
    out.end();
  })().catch((err: unknown) => out.destroy(err as Error));
  return out;
}

/** Imports the built-in as `busybox:latest` through the daemon's import API. */
export async function importBuiltinBusybox(client: EngineClient): Promise<void> {
  const tar = await busyboxRootfsTar();
  for await (const _ of client.imageImport(tar, {
    repo: 'busybox',
    tag: 'latest',
    message: "berth: built-in busybox from the host's busybox-static",
    changes: ['ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'CMD ["sh"]'],
  })) {
    // the import answers with the new image's ID
  }
}
