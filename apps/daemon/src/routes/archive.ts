import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InvalidArgumentError } from '@berth/image-format';
import type { EngineLike } from '../engine-port.js';
import { rawBody } from '../http/body.js';
import { boolValue, optString, type Query } from '../http/query.js';
import { onClosed } from '../http/streaming.js';

/**
 * `docker cp`: HEAD stats a path (X-Docker-Container-Path-Stat, base64 JSON), GET streams
 * a tar of it (a trailing `/.` gives a directory's contents), PUT extracts the tar in the
 * body into a directory (`noOverwriteDirNonDir`, `copyUIDGID`). Paths resolve inside the
 * container the way the container sees them, running or stopped.
 */
export function archiveRoutes(app: FastifyInstance, engine: EngineLike): void {
  const c = engine.containers;
  const target = (request: FastifyRequest): { id: string; path: string; query: Query } => {
    const id = (request.params as { id: string }).id;
    const query = request.query as Query;
    const path = optString(query['path']);
    if (!path) throw new InvalidArgumentError('path is required');
    // Kept as given (a trailing `/.` matters), made absolute.
    return { id, path: path.startsWith('/') ? path : `/${path}`, query };
  };
  const statHeader = (reply: FastifyReply, stat: unknown): void => {
    reply.header('X-Docker-Container-Path-Stat', Buffer.from(JSON.stringify(stat)).toString('base64'));
  };

  app.head('/containers/:id/archive', async (request, reply) => {
    const { id, path } = target(request);
    statHeader(reply, await c.archiveStat(id, path));
    return reply.code(200).send();
  });

  app.get('/containers/:id/archive', async (request, reply) => {
    const { id, path } = target(request);
    const { stat, tar } = await c.getArchive(id, path);
    statHeader(reply, stat);
    reply.hijack();
    const res = reply.raw;
    // closing the tar releases the container's root (a stopped one's mounted snapshot)
    onClosed(res, () => tar.destroy());
    tar.on('error', () => res.destroy());
    if (res.destroyed) return;
    for (const [k, v] of Object.entries(reply.getHeaders())) if (v !== undefined) res.setHeader(k, v as string);
    res.writeHead(200, { 'Content-Type': 'application/x-tar' });
    tar.pipe(res);
  });

  app.put('/containers/:id/archive', async (request, reply) => {
    const { id, path, query } = target(request);
    await c.putArchive(id, path, rawBody(request), {
      noOverwriteDirNonDir: boolValue(query['noOverwriteDirNonDir']),
      copyUIDGID: boolValue(query['copyUIDGID']),
    });
    return reply.code(200).send();
  });
}
