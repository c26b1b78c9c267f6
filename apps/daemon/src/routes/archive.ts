import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import tar, { type Header } from 'tar-stream';
import { InvalidArgumentError, NotFoundError, UnsupportedError } from '@berth/image-format';
import type { EngineLike } from '../engine-port.js';
import { optString, type Query } from '../http/query.js';

/** Go's os.FileMode type bits, which the docker CLI reads from the stat header. */
const MODE_DIR = 0x80000000;
const MODE_SYMLINK = 0x08000000;

interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

function statOf(header: Header, name: string): PathStat {
  const perm = (header.mode ?? 0) & 0o7777;
  const type = header.type === 'directory' ? MODE_DIR : header.type === 'symlink' ? MODE_SYMLINK : 0;
  return {
    name,
    size: header.size ?? 0,
    // Go's uint32 FileMode: keep it unsigned in JSON.
    mode: (type | perm) >>> 0,
    mtime: (header.mtime ?? new Date(0)).toISOString(),
    linkTarget: header.linkname ?? '',
  };
}

function entryPath(name: string): string {
  return name.replace(/^\.?\/+/, '').replace(/\/+$/, '');
}

/**
 * `docker cp CONTAINER:PATH -` reads `GET /containers/{id}/archive?path=`: the container's
 * filesystem (its export stream) filtered to PATH, renamed to PATH's base name, with the
 * stat of PATH in the X-Docker-Container-Path-Stat header. HEAD answers the header alone.
 */
export function archiveRoutes(app: FastifyInstance, engine: EngineLike): void {
  const c = engine.containers;
  const target = (request: FastifyRequest): { id: string; path: string } => {
    const id = (request.params as { id: string }).id;
    const path = optString((request.query as Query)['path']);
    if (!path) throw new InvalidArgumentError('path is required');
    return { id, path: posix.normalize(path.startsWith('/') ? path : `/${path}`) };
  };

  const serve = async (request: FastifyRequest, reply: FastifyReply, headOnly: boolean): Promise<void> => {
    const { id, path } = target(request);
    const want = entryPath(path);
    const base = want === '' ? '.' : posix.basename(want);
    const exported: Readable = await c.export(id);
    const extract = tar.extract();
    const pack = tar.pack();
    let found: PathStat | undefined;
    const first = new Promise<PathStat | undefined>((resolve, reject) => {
      extract.on('entry', (header, stream, next) => {
        const name = entryPath(header.name);
        const inside = want === '' || name === want || name.startsWith(`${want}/`);
        if (!inside) {
          stream.resume();
          stream.on('end', next);
          return;
        }
        if (!found) {
          found = statOf(header, base);
          resolve(found);
          if (headOnly) {
            stream.resume();
            exported.destroy();
            return;
          }
        }
        const renamed = want === '' ? name : base + name.slice(want.length);
        const entry = pack.entry({ ...header, name: renamed || base }, (err) => (err ? reject(err) : next()));
        stream.pipe(entry);
      });
      extract.on('finish', () => {
        resolve(found);
        pack.finalize();
      });
      extract.on('error', reject);
      exported.on('error', reject);
    });
    exported.pipe(extract);
    const stat = await first;
    if (!stat) {
      exported.destroy();
      throw new NotFoundError(`Could not find the file ${path} in container ${id}`);
    }
    reply.header('X-Docker-Container-Path-Stat', Buffer.from(JSON.stringify(stat)).toString('base64'));
    if (headOnly) return reply.code(200).send();
    reply.hijack();
    const res = reply.raw;
    for (const [k, v] of Object.entries(reply.getHeaders())) if (v !== undefined) res.setHeader(k, v as string);
    res.writeHead(200, { 'Content-Type': 'application/x-tar' });
    res.once('close', () => exported.destroy());
    pack.pipe(res);
  };

  app.get('/containers/:id/archive', async (request, reply) => serve(request, reply, false));
  app.head('/containers/:id/archive', async (request, reply) => serve(request, reply, true));
  app.put('/containers/:id/archive', async () => {
    throw new UnsupportedError('copying files into a container is not supported by Berth yet');
  });
}
