import type { FastifyInstance, FastifyRequest } from 'fastify';
import { schemas } from '@berth/engine-api';
import type { ExecCreateBody } from '@berth/engine';
import type { EngineLike } from '../engine-port.js';
import { optionalJson, requiredJson } from '../http/body.js';
import { optInt, type Query } from '../http/query.js';
import { serveSession } from '../http/streaming.js';

export function execRoutes(app: FastifyInstance, engine: EngineLike): void {
  const c = engine.containers;
  const id = (request: FastifyRequest): string => (request.params as { id: string }).id;

  app.post('/containers/:id/exec', { schema: { body: schemas.execCreateBodySchema } }, async (request, reply) => {
    const body = requiredJson<ExecCreateBody>(request);
    const cmd = typeof body.Cmd === 'string' ? [body.Cmd] : body.Cmd;
    const r = await c.execCreate(id(request), { ...body, Cmd: cmd });
    return reply.code(201).send({ Id: r.Id });
  });

  app.post('/exec/:id/start', { schema: { body: schemas.execStartBodySchema } }, async (request, reply) => {
    const body = optionalJson<{ Detach?: boolean; Tty?: boolean }>(request) ?? {};
    const session = await c.execStart(id(request), { detach: body.Detach === true, tty: body.Tty === true });
    if (!session) return reply.code(200).send();
    // The CLI reads the exit code (GET /exec/{id}/json) as soon as the stream closes:
    // close it only once the engine has recorded it, as Docker does.
    const execId = id(request);
    const exitRecorded = async (): Promise<void> => {
      for (let i = 0; i < 500; i++) {
        const info = await c.execInspect(execId).catch(() => undefined);
        if (!info || !info.Running) return;
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    serveSession(request, reply, session, request.log, exitRecorded);
  });

  app.post('/exec/:id/resize', async (request, reply) => {
    const query = request.query as Query;
    await c.execResize(id(request), { h: optInt(query['h'], 'h') ?? 0, w: optInt(query['w'], 'w') ?? 0 });
    return reply.code(200).send();
  });

  app.get('/exec/:id/json', async (request) => c.execInspect(id(request)));
}
