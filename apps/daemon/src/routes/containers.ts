import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { InvalidArgumentError } from '@berth/image-format';
import { MULTIPLEXED_STREAM, RAW_STREAM, exactJson, schemas } from '@berth/engine-api';
import type { EngineLike, WaitCondition } from '../engine-port.js';
import type { ContainerCreateBody } from '@berth/engine';
import { boolValue, filtersValue, optBool, optInt, optString, stringList, timeValue, type Query } from '../http/query.js';
import { optionalJson, requiredJson } from '../http/body.js';
import { withCanonicalNames } from '../http/json-names.js';
import { atLeast } from '../http/api-version.js';
import { JsonStream, onClosed, pipeOutput, sendStream, serveSession } from '../http/streaming.js';

type IdParams = { id: string };

const WAIT_CONDITIONS = new Set(['not-running', 'next-exit', 'removed']);

export function containerRoutes(app: FastifyInstance, engine: EngineLike): void {
  const c = engine.containers;
  const q = (request: FastifyRequest): Query => request.query as Query;
  const id = (request: FastifyRequest): string => (request.params as IdParams).id;

  app.post('/containers/create', { schema: { body: schemas.containerCreateBodySchema }, preValidation: withCanonicalNames(schemas.containerCreateBodySchema) }, async (request, reply) => {
    const body = requiredJson<ContainerCreateBody>(request);
    const endpoints = Object.keys(body.NetworkingConfig?.EndpointsConfig ?? {});
    if (endpoints.length > 1 && !atLeast(request.apiVersion, '1.44')) {
      // API < 1.44 (dockerd 20.10): one endpoint at create, the others by network connect
      throw new InvalidArgumentError(`Container cannot be connected to network endpoints: ${endpoints.sort().join(', ')}`);
    }
    const name = optString(q(request)['name']);
    const platform = optString(q(request)['platform']);
    const created = await c.create(withDefaultNetwork({ ...body, Image: body.Image ?? '' }), {
      ...(name ? { name } : {}),
      ...(platform ? { platform } : {}),
    });
    return reply.code(201).send({ Id: created.Id, Warnings: created.Warnings ?? [] });
  });

  app.get('/containers/json', async (request) => {
    const query = q(request);
    const limit = optInt(query['limit'], 'limit');
    const filters = filtersValue(query['filters']);
    return c.list({
      all: boolValue(query['all']),
      size: boolValue(query['size']),
      ...(limit !== undefined && limit > 0 ? { limit } : {}),
      ...(filters ? { filters } : {}),
    });
  });

  app.get('/containers/:id/json', async (request) => c.inspect(id(request), { size: boolValue(q(request)['size']) }));

  app.post('/containers/:id/start', async (request, reply) => {
    const target = id(request);
    try {
      const r = await c.start(target);
      return await reply.code(r.started ? 204 : 304).send();
    } catch (err) {
      await removeIfAutoRemove(target);
      throw err;
    }
  });

  // Docker removes an auto-remove container whose start failed: `docker run --rm` waits
  // for that removal before it reports the error, and would hang otherwise.
  const removeIfAutoRemove = async (target: string): Promise<void> => {
    try {
      const info = await c.inspect(target);
      if (info.HostConfig.AutoRemove && !info.State.Running) await c.remove(info.Id, { force: true });
    } catch {
      // already gone, or the engine removed it itself
    }
  };

  const stopOpts = (request: FastifyRequest): { signal?: string; timeout?: number } => {
    const signal = optString(q(request)['signal']);
    const t = optInt(q(request)['t'] ?? q(request)['timeout'], 't');
    return { ...(signal ? { signal } : {}), ...(t !== undefined ? { timeout: t } : {}) };
  };

  app.post('/containers/:id/stop', async (request, reply) => {
    const r = await c.stop(id(request), stopOpts(request));
    return reply.code(r.stopped ? 204 : 304).send();
  });

  app.post('/containers/:id/restart', async (request, reply) => {
    await c.restart(id(request), stopOpts(request));
    return reply.code(204).send();
  });

  app.post('/containers/:id/kill', async (request, reply) => {
    const signal = optString(q(request)['signal']);
    await c.kill(id(request), signal ? { signal } : {});
    return reply.code(204).send();
  });

  app.post('/containers/:id/pause', async (request, reply) => {
    await c.pause(id(request));
    return reply.code(204).send();
  });

  app.post('/containers/:id/unpause', async (request, reply) => {
    await c.unpause(id(request));
    return reply.code(204).send();
  });

  app.delete('/containers/:id', async (request, reply) => {
    const query = q(request);
    await c.remove(id(request), { force: boolValue(query['force']), volumes: boolValue(query['v']), link: boolValue(query['link']) });
    return reply.code(204).send();
  });

  // A legacy link's name is `/parent/alias`: DELETE /containers/parent/alias?link=1 removes that link.
  app.delete('/containers/:parent/:alias', async (request, reply) => {
    const { parent, alias } = request.params as { parent: string; alias: string };
    const query = q(request);
    await c.remove(`${parent}/${alias}`, { force: boolValue(query['force']), volumes: boolValue(query['v']), link: boolValue(query['link']) });
    return reply.code(204).send();
  });

  app.post('/containers/:id/rename', async (request, reply) => {
    const name = optString(q(request)['name']);
    if (!name) throw new InvalidArgumentError('new name is required');
    await c.rename(id(request), name);
    return reply.code(204).send();
  });

  app.post('/containers/:id/resize', async (request, reply) => {
    const h = optInt(q(request)['h'], 'h') ?? 0;
    const w = optInt(q(request)['w'], 'w') ?? 0;
    await c.resize(id(request), { h, w });
    return reply.code(200).send();
  });

  // The CLI waits for these headers before it sends start: flush them at once, and
  // tolerate the client going away (run -d, Ctrl-C) while the container runs on.
  app.post('/containers/:id/wait', async (request, reply) => {
    const condition = optString(q(request)['condition']) ?? 'not-running';
    if (!WAIT_CONDITIONS.has(condition)) throw new InvalidArgumentError(`invalid condition: ${JSON.stringify(condition)}`);
    const target = id(request);
    await c.inspect(target);
    const abort = new AbortController();
    const waiting = c.wait(target, condition as WaitCondition, abort.signal);
    reply.hijack();
    const res = reply.raw;
    onClosed(res, () => {
      if (!res.writableFinished) abort.abort();
    });
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    try {
      const r = await waiting;
      res.end(JSON.stringify({ StatusCode: r.StatusCode, Error: r.Error ?? null }) + '\n');
    } catch (err) {
      if (abort.signal.aborted) return;
      res.end(JSON.stringify({ StatusCode: -1, Error: { Message: (err as Error).message } }) + '\n');
    }
  });

  app.get('/containers/:id/logs', async (request, reply) => {
    const query = q(request);
    const stdout = boolValue(query['stdout']);
    const stderr = boolValue(query['stderr']);
    if (!stdout && !stderr) throw new InvalidArgumentError('Bad parameters: you must choose at least one stream');
    const target = id(request);
    const info = await c.inspect(target);
    const tty = info.Config.Tty === true;
    const tailRaw = optString(query['tail']);
    const tail = tailRaw === undefined || tailRaw === 'all' ? 'all' : Number.parseInt(tailRaw, 10);
    if (typeof tail === 'number' && Number.isNaN(tail)) throw new InvalidArgumentError(`invalid value for tail: ${JSON.stringify(tailRaw)}`);
    const since = timeValue(query['since'], 'since');
    const until = timeValue(query['until'], 'until');
    const timestamps = boolValue(query['timestamps']);
    const abort = new AbortController();
    const output = await c.logs(target, {
      follow: boolValue(query['follow']),
      stdout,
      stderr,
      tail,
      timestamps,
      signal: abort.signal,
      ...(since !== undefined ? { since } : {}),
      ...(until !== undefined ? { until } : {}),
    });
    reply.hijack();
    const res = reply.raw;
    onClosed(res, () => {
      abort.abort();
      output.destroy();
    });
    res.writeHead(200, { 'Content-Type': !tty && atLeast(request.apiVersion, '1.42') ? MULTIPLEXED_STREAM : RAW_STREAM });
    res.flushHeaders();
    try {
      await pipeOutput(output, res, { tty, timestamps });
    } catch (err) {
      request.log.warn({ err }, 'logs stream failed');
    } finally {
      res.end();
    }
  });

  app.post('/containers/:id/attach', async (request, reply) => {
    const query = q(request);
    const detachKeys = optString(query['detachKeys']);
    const session = await c.attach(id(request), {
      stdin: boolValue(query['stdin']),
      stdout: boolValue(query['stdout']),
      stderr: boolValue(query['stderr']),
      stream: boolValue(query['stream']),
      logs: boolValue(query['logs']),
      ...(detachKeys ? { detachKeys } : {}),
    });
    serveSession(request, reply, session, request.log);
  });

  app.get('/containers/:id/stats', async (request, reply) => {
    const query = q(request);
    const stream = query['stream'] === undefined ? true : boolValue(query['stream']);
    const oneShot = boolValue(query['one-shot']);
    // exactJson: memory counters past 2^53 are bigints, written exact as dockerd's uint64s
    if (!stream || oneShot) return reply.type('application/json').send(exactJson(await c.stats(id(request), { stream: false })));
    const out = new JsonStream(reply, false);
    const samples = (await c.stats(id(request), { stream: true, signal: out.aborted.signal })) as Readable;
    out.aborted.signal.addEventListener('abort', () => samples.destroy(), { once: true });
    try {
      for await (const s of samples) out.write(s);
      out.end();
    } catch (err) {
      if (!out.aborted.signal.aborted) out.end(err);
    }
  });

  app.get('/containers/:id/top', async (request) => {
    const psArgs = optString(q(request)['ps_args']);
    return c.top(id(request), psArgs ? { psArgs } : {});
  });

  app.get('/containers/:id/export', async (request, reply) => {
    const tar = await c.export(id(request));
    return sendStream(reply, tar, 'application/x-tar');
  });

  app.post('/containers/prune', async (request) => {
    const filters = filtersValue(q(request)['filters']);
    const r = await c.prune(filters ? { filters } : {});
    return { ContainersDeleted: r.ContainersDeleted.length > 0 ? r.ContainersDeleted : null, SpaceReclaimed: r.SpaceReclaimed };
  });

  app.post('/commit', { schema: { body: schemas.commitBodySchema } }, async (request, reply) => {
    const query = q(request);
    const container = optString(query['container']);
    if (!container) throw new InvalidArgumentError('No such container: ');
    const config = optionalJson<Partial<ContainerCreateBody>>(request);
    const opt = (k: string): Record<string, string> => {
      const v = optString(query[k]);
      return v !== undefined ? { [k]: v } : {};
    };
    const pause = optBool(query['pause']);
    const changes = stringList(query['changes']).flatMap((c) => c.split('\n')).filter((c) => c.trim() !== '');
    const r = await engine.images.commit(container, {
      ...opt('repo'),
      ...opt('tag'),
      ...opt('comment'),
      ...opt('author'),
      ...(pause !== undefined ? { pause } : {}),
      ...(changes.length > 0 ? { changes } : {}),
      ...(config && Object.keys(config).length > 0 ? { config } : {}),
    });
    return reply.code(201).send({ Id: r.Id });
  });

  app.get('/containers/:id/changes', async (request) => {
    const changes = await c.changes(id(request));
    return changes.length > 0 ? changes : null;
  });

  app.post('/containers/:id/update', { schema: { body: schemas.containerUpdateBodySchema } }, async (request) => {
    const body = optionalJson<Record<string, unknown>>(request) ?? {};
    const clean = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== null));
    const r = await c.update(id(request), clean);
    return { Warnings: r.Warnings.length > 0 ? r.Warnings : null };
  });
}

/**
 * Docker's route turns NetworkMode "" / "default" into the OS default network ("bridge")
 * before anything else looks at it, endpoint settings for "default" included.
 */
export function withDefaultNetwork(body: ContainerCreateBody): ContainerCreateBody {
  const host = body.HostConfig ?? {};
  if (host.NetworkMode && host.NetworkMode !== 'default') return body;
  const endpoints = { ...(body.NetworkingConfig?.EndpointsConfig ?? {}) };
  if (endpoints['default']) {
    endpoints['bridge'] = endpoints['default'];
    delete endpoints['default'];
  }
  return {
    ...body,
    HostConfig: { ...host, NetworkMode: 'bridge' },
    ...(body.NetworkingConfig ? { NetworkingConfig: { ...body.NetworkingConfig, EndpointsConfig: endpoints } } : {}),
  };
}
