import Fastify, { type FastifyInstance, type FastifyError } from 'fastify';
import { BerthError, InvalidArgumentError } from '@berth/image-format';
import { statusForError } from '@berth/engine-api';
import type { EngineLike } from '../engine-port.js';
import { requestedVersion, stripVersionPrefix } from './api-version.js';
import { setCommonHeaders } from './headers.js';
import { EMPTY_BODY_MESSAGE } from './messages.js';
import { systemRoutes, type SystemRouteOptions } from '../routes/system.js';
import { containerRoutes } from '../routes/containers.js';
import { execRoutes } from '../routes/exec.js';
import { imageRoutes } from '../routes/images.js';
import { volumeRoutes } from '../routes/volumes.js';
import { networkRoutes } from '../routes/networks.js';
import { archiveRoutes } from '../routes/archive.js';
import { buildRoutes } from '../routes/build.js';
import { swarmRoutes } from '../routes/swarm.js';
import { pluginRoutes } from '../routes/plugins.js';
import { lazySerializerFactory, lazyValidatorFactory } from './lazy-validators.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The API version this request speaks (from its `/v1.xx/` prefix, else 1.50). */
    apiVersion: string;
  }
}

export interface AppOptions extends SystemRouteOptions {
  logLevel: string;
}

/**
 * The Docker Engine API as a fastify app (not listening: `listen` binds it to sockets).
 * Plumbing common to all routes lives here: version prefix and range, Docker's response
 * headers, JSON bodies (empty ones allowed), raw tar bodies, errors as `{"message"}`.
 */
export function buildApp(engine: EngineLike, options: AppOptions): FastifyInstance {
  const app = Fastify({
    logger: { level: options.logLevel },
    exposeHeadRoutes: false,
    bodyLimit: 64 * 1024 * 1024,
    rewriteUrl: (req) => stripVersionPrefix(req),
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1024 },
    return503OnClosing: false,
    schemaController: { compilersFactory: { buildValidator: lazyValidatorFactory, buildSerializer: lazySerializerFactory } },
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false, allowUnionTypes: true } },
  });

  app.decorateRequest('apiVersion', '');

  app.addHook('onRequest', async (request, reply) => {
    setCommonHeaders(reply.raw);
    request.apiVersion = requestedVersion(request.raw);
  });

  // The docker CLI decodes an error body only when Content-Type is exactly application/json
  // (fastify appends a charset): without this it prints the raw JSON.
  app.addHook('onSend', async (_request, reply, payload) => {
    const type = reply.getHeader('content-type');
    if (typeof type === 'string' && type.startsWith('application/json;')) reply.header('content-type', 'application/json');
    return payload;
  });

  // An error answered before the body was read (a bad destination for a tar): the rest of
  // the body is read and dropped, so the connection closes cleanly. Closing it with bytes
  // unread would reset it, and a client still sending could lose the answer.
  app.addHook('onResponse', async (request) => {
    const req = request.raw;
    if (!req.complete && !req.destroyed) {
      req.unpipe();
      req.resume();
    }
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = (body as string).trim();
    if (text === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(new InvalidArgumentError(`invalid JSON: ${goJsonError((err as Error).message)}`), undefined);
    }
  });
  // Tar bodies (load, import) and anything else: the raw stream, read by the route.
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));

  app.setNotFoundHandler((_request, reply) => {
    void reply.code(404).send({ message: 'page not found' });
  });

  app.setErrorHandler((err: FastifyError | BerthError | Error, request, reply) => {
    let status: number;
    let message = err.message;
    if ((err as FastifyError).validation) {
      status = 400;
      const context = (err as FastifyError).validationContext ?? 'request';
      message =
        context === 'body' && (request.body === undefined || request.body === null)
          ? EMPTY_BODY_MESSAGE
          : `invalid ${context}: ${message}`;
    } else if (err instanceof BerthError) {
      status = statusForError(err);
    } else if (typeof (err as FastifyError).statusCode === 'number' && (err as FastifyError).statusCode! >= 400) {
      status = (err as FastifyError).statusCode!;
    } else {
      status = 500;
    }
    // A request that failed because its client hung up (a load or build cut off) is no
    // fault of the daemon's: nothing to answer, nothing to report above debug.
    const gone = reply.raw.destroyed;
    if (status === 500 && !gone) request.log.error({ err }, `${request.method} ${request.url} failed`);
    else request.log.debug({ err }, `${request.method} ${request.url}: ${status}`);
    if (reply.sent || reply.raw.headersSent) {
      reply.raw.destroy();
      return;
    }
    void reply.code(status).type('application/json').send({ message });
  });

  app.options('/*', async (_request, reply) => reply.code(200).send());

  void app.register(async (scope) => {
    systemRoutes(scope, engine, options);
    containerRoutes(scope, engine);
    execRoutes(scope, engine);
    imageRoutes(scope, engine);
    volumeRoutes(scope, engine);
    networkRoutes(scope, engine);
    archiveRoutes(scope, engine);
    buildRoutes(scope, engine);
    swarmRoutes(scope);
    pluginRoutes(scope, engine);
  });

  return app;
}

/** Docker's messages come from Go's encoding/json; say the same for the common cases. */
function goJsonError(message: string): string {
  if (/Unexpected end of JSON input/i.test(message)) return 'unexpected EOF';
  const token = /Unexpected token '?(.)'?/.exec(message);
  if (token) return `invalid character '${token[1]}' looking for beginning of value`;
  return message;
}
