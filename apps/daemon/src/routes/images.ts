import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InvalidArgumentError, NotFoundError, UnsupportedError, isBerthError, normalizeReference } from '@berth/image-format';
import type { EngineLike, ProgressMessage } from '../engine-port.js';
import { boolValue, filtersValue, optString, registryAuth, stringList, type Query } from '../http/query.js';
import { rawBody } from '../http/body.js';
import { JsonStream, sendStream } from '../http/streaming.js';
import { atLeast } from '../http/api-version.js';

const PAGE_NOT_FOUND = 'page not found';

/** `fromImage` + `tag` as the CLI splits them (`tag` may be a digest). */
export function joinReference(name: string, tag: string | undefined): string {
  if (!tag) return name;
  return /^[a-z0-9]+:[a-f0-9]{32,}$/.test(tag) ? `${name}@${tag}` : `${name}:${tag}`;
}

/**
 * Image names contain slashes (`127.0.0.1:5000/team/app:1`), so `/images/{name}/json`
 * cannot be a single path parameter: these routes take the wildcard and split off the
 * action suffix themselves.
 */
function splitAction(wildcard: string, actions: string[]): { name: string; action: string } | undefined {
  const path = safeDecode(wildcard);
  for (const action of actions) {
    if (path.endsWith(`/${action}`)) return { name: path.slice(0, -(action.length + 1)), action };
  }
  return undefined;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function imageRoutes(app: FastifyInstance, engine: EngineLike): void {
  const images = engine.images;
  const q = (request: FastifyRequest): Query => request.query as Query;
  const wildcard = (request: FastifyRequest): string => (request.params as { '*': string })['*'];

  app.get('/images/json', async (request) => {
    const query = q(request);
    const filters = filtersValue(query['filters']) ?? {};
    const legacy = optString(query['filter']);
    if (legacy) filters['reference'] = [legacy];
    const list = await images.list({
      all: boolValue(query['all']),
      digests: boolValue(query['digests']),
      ...(Object.keys(filters).length > 0 ? { filters } : {}),
    });
    // VirtualSize left the API in 1.44; older clients still read it.
    return atLeast(request.apiVersion, '1.44') ? list : list.map((i) => ({ ...i, VirtualSize: i.Size }));
  });

  app.get('/images/search', async () => {
    throw new UnsupportedError('image search is not supported by Berth');
  });

  app.get('/images/get', async (request, reply) => {
    const names = stringList(q(request)['names']);
    if (names.length === 0) throw new InvalidArgumentError('no images given to save');
    return sendStream(reply, images.save(names), 'application/x-tar');
  });

  app.get('/images/*', async (request, reply) => {
    const split = splitAction(wildcard(request), ['json', 'history', 'get']);
    if (!split || split.name === '') throw new NotFoundError(PAGE_NOT_FOUND);
    switch (split.action) {
      case 'json': {
        const info = await images.inspect(split.name);
        // Container and ContainerConfig left the API in 1.45, VirtualSize in 1.44.
        if (atLeast(request.apiVersion, '1.45')) {
          const { Container: _c, ContainerConfig: _cc, ...rest } = info;
          return rest;
        }
        return atLeast(request.apiVersion, '1.44') ? info : { ...info, VirtualSize: info.Size };
      }
      case 'history':
        return images.history(split.name);
      default:
        return sendStream(reply, images.save([split.name]), 'application/x-tar');
    }
  });

  app.post('/images/create', async (request, reply) => {
    const query = q(request);
    const fromImage = optString(query['fromImage']);
    const fromSrc = optString(query['fromSrc']);
    const platform = optString(query['platform']);
    if (fromImage) return pull(request, reply, joinReference(fromImage, optString(query['tag'])), platform);
    if (fromSrc) {
      if (fromSrc !== '-') throw new UnsupportedError('importing from a URL is not supported by Berth: send the tarball in the request body');
      const repo = optString(query['repo']);
      const message = optString(query['message']);
      const changes = stringList(query['changes']);
      const out = new JsonStream(reply);
      try {
        const imageId = await images.importRootfs(rawBody(request), {
          ...(repo ? { ref: joinReference(repo, optString(query['tag'])) } : {}),
          ...(message ? { message } : {}),
          ...(changes.length > 0 ? { changes } : {}),
          ...(platform ? { platform } : {}),
        });
        out.write({ status: imageId });
        out.end();
      } catch (err) {
        out.end(err);
      }
      return;
    }
    throw new InvalidArgumentError('fromImage or fromSrc is required');
  });

  const pull = async (request: FastifyRequest, reply: FastifyReply, ref: string, platform: string | undefined): Promise<void> => {
    const auth = registryAuth(request.headers['x-registry-auth']);
    const out = new JsonStream(reply);
    // The engine says "Pulling from" once the registry answered with the manifest, as
    // dockerd does: an error before it (a missing image) is the response's status, one
    // after it (no platform in the index, an OS the host cannot run) a line in the stream.
    const onProgress = (msg: ProgressMessage): void => {
      out.write(msg);
    };
    try {
      await images.pull(ref, {
        ...(auth ? { auth } : {}),
        ...(platform ? { platform } : {}),
        onProgress,
        signal: out.aborted.signal,
      });
      out.end();
    } catch (err) {
      if (out.aborted.signal.aborted) return;
      if (isBuiltinStandIn(ref) && isBerthError(err) && err.code === 'Unavailable') {
        // No registry reachable (a fresh machine, no internet): busybox has a built-in
        // stand-in made from the host's busybox-static, so `run busybox` works anywhere.
        try {
          out.write({ status: `${err.message}: using the built-in busybox image (made from the host's busybox-static)` });
          const image = await images.ensureBuiltin('busybox');
          out.write({ status: `Digest: ${image.Id}` });
          out.write({ status: 'Status: Image is up to date for busybox:latest' });
          out.end();
        } catch (builtinErr) {
          out.end(builtinErr);
        }
        return;
      }
      out.end(err);
    }
  };

  app.post('/images/load', async (request, reply) => {
    // Docker defaults quiet to true when the parameter is absent, and answers 200 at once:
    // a bad archive is an error line in the stream (docker-py raises ImageLoadError from it).
    const query = q(request);
    const quiet = query['quiet'] === undefined ? true : boolValue(query['quiet']);
    const out = new JsonStream(reply, true);
    try {
      await images.load(rawBody(request), { quiet, onMessage: (msg: ProgressMessage) => out.write(msg) });
      out.end();
    } catch (err) {
      out.end(err);
    }
  });

  app.post('/images/prune', async (request) => {
    const filters = filtersValue(q(request)['filters']);
    const r = await images.prune(filters ? { filters } : {});
    return { ImagesDeleted: r.ImagesDeleted.length > 0 ? r.ImagesDeleted : null, SpaceReclaimed: r.SpaceReclaimed };
  });

  app.post('/images/*', async (request, reply) => {
    const split = splitAction(wildcard(request), ['push', 'tag']);
    if (!split || split.name === '') throw new NotFoundError(PAGE_NOT_FOUND);
    const query = q(request);
    if (split.action === 'tag') {
      const repo = optString(query['repo']);
      if (!repo) throw new InvalidArgumentError('repository name must have at least one component');
      await images.tag(split.name, joinReference(repo, optString(query['tag'])));
      return reply.code(201).send();
    }
    const ref = joinReference(split.name, optString(query['tag']));
    const auth = registryAuth(request.headers['x-registry-auth']);
    const out = new JsonStream(reply);
    try {
      const pushed = await images.push(ref, {
        ...(auth ? { auth } : {}),
        onProgress: (msg: ProgressMessage) => out.write(msg),
        signal: out.aborted.signal,
      });
      out.write({ status: `${pushed.tag}: digest: ${pushed.digest} size: ${pushed.size}` });
      out.write({ progressDetail: {}, aux: { Tag: pushed.tag, Digest: pushed.digest, Size: pushed.size } });
      out.end();
    } catch (err) {
      if (out.aborted.signal.aborted) return;
      out.end(err);
    }
  });

  app.delete('/images/*', async (request) => {
    const name = safeDecode(wildcard(request));
    if (name === '') throw new NotFoundError(PAGE_NOT_FOUND);
    const query = q(request);
    return images.remove(name, { force: boolValue(query['force']), noprune: boolValue(query['noprune']) });
  });
}

/** The references the built-in busybox stands in for: `busybox`, `busybox:latest`, `docker.io/library/busybox:latest`. */
function isBuiltinStandIn(ref: string): boolean {
  try {
    return normalizeReference(ref).toString() === 'docker.io/library/busybox:latest';
  } catch {
    return false;
  }
}
