import type { FastifyInstance, FastifyRequest } from 'fastify';
import { schemas } from '@berth/engine-api';
import type { VolumeCreateBody } from '@berth/engine';
import type { EngineLike } from '../engine-port.js';
import { boolValue, filtersValue, type Query } from '../http/query.js';
import { optionalJson } from '../http/body.js';

export function volumeRoutes(app: FastifyInstance, engine: EngineLike): void {
  const v = engine.volumes;
  const name = (request: FastifyRequest): string => (request.params as { name: string }).name;
  const q = (request: FastifyRequest): Query => request.query as Query;

  app.get('/volumes', async (request) => {
    const filters = filtersValue(q(request)['filters']);
    const r = await v.list(filters ? { filters } : {});
    return { Volumes: r.Volumes, Warnings: r.Warnings.length > 0 ? r.Warnings : null };
  });

  app.post('/volumes/create', { schema: { body: schemas.volumeCreateBodySchema } }, async (request, reply) => {
    const body = optionalJson<VolumeCreateBody>(request) ?? {};
    const clean: VolumeCreateBody = {};
    if (body.Name) clean.Name = body.Name;
    if (body.Driver) clean.Driver = body.Driver;
    if (body.DriverOpts) clean.DriverOpts = body.DriverOpts;
    if (body.Labels) clean.Labels = body.Labels;
    return reply.code(201).send(await v.create(clean));
  });

  app.post('/volumes/prune', async (request) => {
    const filters = filtersValue(q(request)['filters']);
    const r = await v.prune(filters ? { filters } : {});
    return { VolumesDeleted: r.VolumesDeleted.length > 0 ? r.VolumesDeleted : null, SpaceReclaimed: r.SpaceReclaimed };
  });

  app.get('/volumes/:name', async (request) => v.inspect(name(request)));

  app.delete('/volumes/:name', async (request, reply) => {
    await v.remove(name(request), { force: boolValue(q(request)['force']) });
    return reply.code(204).send();
  });
}
