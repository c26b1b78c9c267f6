import type { FastifyInstance, FastifyRequest } from 'fastify';
import { schemas } from '@berth/engine-api';
import type { ExecCreateBody } from '@berth/engine';
import type { EngineLike } from '../engine-port.js';
import { optionalJson, requiredJson } from '../http/body.js';
import { withCanonicalNames } from '../http/json-names.js';
import { optInt, type Query } from '../http/query.js';
import { openUpgraded, serveSession, type OpenedSession } from '../http/streaming.js';

export function execRoutes(app: FastifyInstance, engine: EngineLike): void {
  const c = engine.containers;
  const id = (request: FastifyRequest): string => (request.params as { id: string }).id;

  // docker-py sends `detachKeys`: Docker's names match in any case
  app.post('/containers/:id/exec', { schema: { body: schemas.execCreateBodySchema }, preValidation: withCanonicalNames(schemas.execCreateBodySchema) }, async (request, reply) => {
    const body = requiredJson<ExecCreateBody>(request);
    const cmd = typeof body.Cmd === 'string' ? [body.Cmd] : body.Cmd;
    const r = await c.execCreate(id(request), { ...body, Cmd: cmd });
    return reply.code(201).send({ Id: r.Id });
  });

  app.post('/exec/:id/start', { schema: { body: schemas.execStartBodySchema } }, async (request, reply) => {
    const body = optionalJson<{ Detach?: boolean; Tty?: boolean }>(request) ?? {};
    const execId = id(request);
    // The start body's Tty only says whether the output is raw or framed (the process's
    // TTY comes from exec create), as dockerd: docker-py sends Tty:false and reads frames.
    const raw = body.Tty === true;
    let opened = undefined as OpenedSession | undefined;
    let session;
    try {
      session = await c.execStart(execId, {
        detach: body.Detach === true,
        tty: raw,
        // Answered before the process starts, as Docker: its first output then never
        // shares the client's read of the headers.
        ...(body.Detach === true ? {} : { beforeStart: () => void (opened = openUpgraded(request, reply, !raw)) }),
      });
    } catch (err) {
      if (!opened) throw err;
      opened.fail(err instanceof Error ? err.message : String(err));
      return;
    }
    if (!session) return reply.code(200).send();
    // The CLI reads the exit code (GET /exec/{id}/json) as soon as the stream closes:
    // close it only once the engine has recorded it, as Docker does.
    const exitRecorded = async (): Promise<void> => {
      if (session.detached?.()) return;
      for (let i = 0; i < 500; i++) {
        const info = await c.execInspect(execId).catch(() => undefined);
        if (!info || !info.Running) return;
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    if (opened) opened.serve(session, request.log, exitRecorded);
    else serveSession(request, reply, session, request.log, exitRecorded);
  });

  app.post('/exec/:id/resize', async (request, reply) => {
    const query = request.query as Query;
    await c.execResize(id(request), { h: optInt(query['h'], 'h') ?? 0, w: optInt(query['w'], 'w') ?? 0 });
    return reply.code(200).send();
  });

  app.get('/exec/:id/json', async (request) => c.execInspect(id(request)));
}
