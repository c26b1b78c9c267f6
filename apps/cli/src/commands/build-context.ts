import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { DockerIgnore } from '@berth/engine-api';

// The build context as the docker CLI sends it: the directory's files minus what
// `.dockerignore` excludes, the Dockerfile and .dockerignore always kept, as an uncompressed
// tar owned by 0:0.

/** Paths of the context to send (sorted, parents first), honouring .dockerignore. */
export async function contextEntries(dir: string, keep: string[]): Promise<string[]> {
  const ignore = await DockerIgnore.read(dir);
  const keepSet = new Set(keep);
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(rel === '' ? dir : join(dir, rel))).sort();
    for (const name of names) {
      const child = rel === '' ? name : `${rel}/${name}`;
      const st = await lstat(join(dir, child));
      const excluded = ignore.excludes(child) && !keepSet.has(child);
      if (st.isDirectory()) {
        if (excluded && !ignore.hasExceptions) continue;
        if (!excluded) out.push(child);
        await walk(child);
      } else if (!excluded) out.push(child);
    }
  };
  await walk('');
  return out;
}

/** Streams `entries` of `dir` (plus `extra` files given as name -> bytes) as a ustar/PAX tar. */
export function packContext(dir: string, entries: string[], extra: { name: string; data: Buffer }[] = []): Readable {
  return Readable.from(packGenerator(dir, entries, extra), { objectMode: false });
}

async function* packGenerator(dir: string, entries: string[], extra: { name: string; data: Buffer }[]): AsyncGenerator<Buffer> {
  for (const rel of entries) {
    const abs = join(dir, rel);
    const st = await lstat(abs);
    const base = { mode: st.mode & 0o7777, mtime: Math.floor(st.mtimeMs / 1000) };
    if (st.isDirectory()) yield* header({ ...base, name: rel + '/', type: '5', size: 0 });
    else if (st.isSymbolicLink()) yield* header({ ...base, name: rel, type: '2', size: 0, linkname: await readlink(abs) });
    else if (st.isFile()) {
      yield* header({ ...base, name: rel, type: '0', size: st.size });
      let written = 0;
      for await (const chunk of createReadStream(abs, { start: 0, end: Math.max(0, st.size - 1) })) {
        const b = chunk as Buffer;
        if (st.size === 0) break;
        written += b.length;
        yield b;
      }
      if (written !== st.size) throw new Error(`${rel}: changed size while being sent`);
      yield padding(st.size);
    }
  }
  for (const e of extra) {
    yield* header({ name: e.name, type: '0', size: e.data.length, mode: 0o644, mtime: Math.floor(Date.now() / 1000) });
    yield e.data;
    yield padding(e.data.length);
  }
  yield Buffer.alloc(1024);
}

function padding(size: number): Buffer {
  return Buffer.alloc((512 - (size % 512)) % 512);
}

interface Hdr {
  name: string;
  type: '0' | '2' | '5' | 'x';
  size: number;
  mode: number;
  mtime: number;
  linkname?: string;
}

/** One ustar header, preceded by a PAX header when a name does not fit. */
function* header(h: Hdr): Generator<Buffer> {
  const long = Buffer.byteLength(h.name) > 100 || Buffer.byteLength(h.linkname ?? '') > 100;
  if (long) {
    const records = Buffer.from(paxRecord('path', h.name) + (h.linkname ? paxRecord('linkpath', h.linkname) : ''));
    yield ustar({ name: 'PaxHeader', type: 'x', size: records.length, mode: 0o644, mtime: h.mtime });
    yield records;
    yield padding(records.length);
  }
  yield ustar({ ...h, name: Buffer.from(h.name).subarray(0, 100).toString(), ...(h.linkname ? { linkname: Buffer.from(h.linkname).subarray(0, 100).toString() } : {}) });
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

function ustar(h: Hdr): Buffer {
  const b = Buffer.alloc(512);
  const str = (s: string, off: number, len: number): void => {
    b.write(s, off, len, 'utf8');
  };
  const oct = (n: number, off: number, len: number): void => str(n.toString(8).padStart(len - 1, '0') + '\0', off, len);
  str(h.name, 0, 100);
  oct(h.mode, 100, 8);
  oct(0, 108, 8);
  oct(0, 116, 8);
  oct(h.size, 124, 12);
  oct(h.mtime, 136, 12);
  b.fill(0x20, 148, 156);
  str(h.type, 156, 1);
  if (h.linkname) str(h.linkname, 157, 100);
  str('ustar\0', 257, 6);
  str('00', 263, 2);
  let sum = 0;
  for (const x of b) sum += x;
  str(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return b;
}
