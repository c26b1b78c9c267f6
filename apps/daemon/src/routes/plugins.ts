import type { FastifyInstance, FastifyRequest } from 'fastify';
import { InvalidArgumentError, NotFoundError, UnsupportedError } from '@berth/image-format';
import type { EngineLike } from '../engine-port.js';
import { rawBody, optionalJson } from '../http/body.js';
import { boolValue, filtersValue, optString, type Query } from '../http/query.js';

const PAGE_NOT_FOUND = 'page not found';

/**
 * Docker's plugin API over Berth's local plugin store. Plugin names contain slashes
 * (`docker-sdk-py/dummy:latest`), so `/plugins/{name}/{action}` takes the wildcard and
 * splits the action off the end, as the image routes do.
 */
export function pluginRoutes(app: FastifyInstance, engine: EngineLike): void {
  const plugins = engine.plugins;
  const q = (request: FastifyRequest): Query => request.query as Query;
  const split = (request: FastifyRequest, actions: string[]): { name: string; action: string } => {
    let path = (request.params as { '*': string })['*'];
    try {
      path = decodeURIComponent(path);
    } catch {
      // keep it as sent
    }
    for (const action of actions) {
      if (path.endsWith(`/${action}`) && path.length > action.length + 1) return { name: path.slice(0, -(action.length + 1)), action };
    }
    throw new NotFoundError(PAGE_NOT_FOUND);
  };

  app.get('/plugins', async (request) => {
    const filters = filtersValue(q(request)['filters']);
    return plugins.list(filters);
  });

  app.get('/plugins/privileges', async (request) => {
    const remote = optString(q(request)['remote']);
    if (!remote) throw new InvalidArgumentError('remote is required');
    return plugins.privileges(remote);
  });

  app.post('/plugins/pull', async (request) => {
    const remote = optString(q(request)['remote']);
    if (!remote) throw new InvalidArgumentError('remote is required');
    plugins.pull(remote);
  });

  app.post('/plugins/create', async (request, reply) => {
    await plugins.create(optString(q(request)['name']) ?? '', rawBody(request));
    return reply.code(204).send();
  });

  app.get('/plugins/*', async (request) => {
    const { name } = split(request, ['json']);
    return plugins.inspect(name);
  });

  app.delete('/plugins/*', async (request) => {
    const name = (request.params as { '*': string })['*'];
    if (!name) throw new NotFoundError(PAGE_NOT_FOUND);
    await plugins.remove(decodeURIComponent(name), boolValue(q(request)['force']));
    // Docker answers 200 with an empty body.
    return '';
  });

  app.post('/plugins/*', async (request, reply) => {
    const { name, action } = split(request, ['enable', 'disable', 'set', 'upgrade', 'push']);
    switch (action) {
      case 'enable':
        await plugins.enable(name);
        return reply.code(200).send();
      case 'disable':
        await plugins.disable(name);
        return reply.code(200).send();
      case 'set': {
        const args = optionalJson<unknown>(request) ?? [];
        if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) throw new InvalidArgumentError('plugin set: the body must be a JSON list of strings');
        await plugins.set(name, args);
        return reply.code(204).send();
      }
      default:
        plugins.inspect(name);
        throw new UnsupportedError(`plugin ${action} needs a plugin registry, which Berth does not support`);
    }
  });
}
