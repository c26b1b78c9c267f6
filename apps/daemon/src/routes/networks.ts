import type { FastifyInstance, FastifyRequest } from 'fastify';
import { schemas } from '@berth/engine-api';
import type { EndpointSettings, NetworkCreateBody } from '@berth/engine';
import type { EngineLike } from '../engine-port.js';
import { filtersValue, type Query } from '../http/query.js';
import { requiredJson } from '../http/body.js';

export function networkRoutes(app: FastifyInstance, engine: EngineLike): void {
  const n = engine.networks;
  const id = (request: FastifyRequest): string => (request.params as { id: string }).id;
  const q = (request: FastifyRequest): Query => request.query as Query;

  const list = async (request: FastifyRequest): Promise<unknown> => {
    const filters = filtersValue(q(request)['filters']);
    return n.list(filters ? { filters } : {});
  };
  app.get('/networks', list);

  app.post('/networks/create', { schema: { body: schemas.networkCreateBodySchema } }, async (request, reply) => {
    const body = requiredJson<NetworkCreateBody>(request);
    return reply.code(201).send(await n.create(stripNulls(body)));
  });

  app.post('/networks/prune', async (request) => {
    const filters = filtersValue(q(request)['filters']);
    const r = await n.prune(filters ? { filters } : {});
    return { NetworksDeleted: r.NetworksDeleted.length > 0 ? r.NetworksDeleted : null };
  });

  app.get('/networks/:id', async (request) => n.inspect(id(request)));

  app.delete('/networks/:id', async (request, reply) => {
    await n.remove(id(request));
    return reply.code(204).send();
  });

  app.post('/networks/:id/connect', { schema: { body: schemas.networkConnectBodySchema } }, async (request, reply) => {
    const body = requiredJson<{ Container: string; EndpointConfig?: EndpointSettings | null }>(request);
    await n.connect(id(request), { Container: body.Container, ...(body.EndpointConfig ? { EndpointConfig: body.EndpointConfig } : {}) });
    return reply.code(200).send();
  });

  app.post('/networks/:id/disconnect', { schema: { body: schemas.networkDisconnectBodySchema } }, async (request, reply) => {
    const body = requiredJson<{ Container: string; Force?: boolean | null }>(request);
    await n.disconnect(id(request), { Container: body.Container, ...(body.Force ? { Force: true } : {}) });
    return reply.code(200).send();
  });
}

/** Go clients send null for empty maps and lists; the engine takes absent instead. */
function stripNulls<T extends object>(body: T): T {
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== null)) as T;
}
