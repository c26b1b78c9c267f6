import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BerthError, InvalidArgumentError, UnsupportedError } from '@berth/image-format';
import { BuildStepError } from '@berth/engine';
import { BUILD_SECRETS_HEADER, BUILD_SECRETS_ID_HEADER, checkBuildSecrets, decodeBuildSecrets } from '@berth/engine-api';
import { BuildSecretUploads, buildSecretRoutes } from './build-secrets.js';
import type { EngineLike } from '../engine-port.js';
import { boolValue, optString, registryAuth, stringList, type Query } from '../http/query.js';
import type { RegistryAuth } from '../engine-port.js';
import { rawBody } from '../http/body.js';
import { JsonStream } from '../http/streaming.js';

/** A JSON-encoded map query parameter (`buildargs`, `labels`). */
function jsonMap<T>(v: Query[string], name: string): Record<string, T> | undefined {
  const s = optString(v);
  if (!s) return undefined;
  try {
    const parsed = JSON.parse(s) as unknown;
    if (parsed === null) return undefined;
    if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as Record<string, T>;
  } catch {
    throw new InvalidArgumentError(`invalid ${name} value: ${s}`);
  }
}

/** `cachefrom`: a JSON list of image references; not one is a 500 with Docker (its JSON error, unwrapped). */
function jsonList(v: Query[string], name: string): string[] | undefined {
  const s = optString(v);
  if (!s) return undefined;
  try {
    const parsed = JSON.parse(s) as unknown;
    if (parsed === null) return [];
    if (!Array.isArray(parsed) || parsed.some((x) => typeof x !== 'string')) throw new Error('not a list of strings');
    return parsed as string[];
  } catch {
    throw new BerthError('Internal', `invalid ${name} value: ${s}`);
  }
}

/** X-Registry-Config: base64url(JSON map of registry -> credentials), as the docker CLI sends every stored login. */
function registryConfig(header: string | string[] | undefined): Record<string, RegistryAuth> | undefined {
  const h = Array.isArray(header) ? header[0] : header;
  if (!h) return undefined;
  try {
    const map = JSON.parse(Buffer.from(h, 'base64').toString('utf8')) as Record<string, unknown>;
    const out: Record<string, RegistryAuth> = {};
    for (const [server, value] of Object.entries(map ?? {})) {
      const auth = registryAuth(Buffer.from(JSON.stringify(value)).toString('base64'));
      if (auth) out[server] = auth;
    }
    return Object.keys(out).length ? out : undefined;
  } catch {
    return undefined; // as Docker: an undecodable header means no credentials
  }
}

/** `berth build --secret` values: in the header, or uploaded before and named by their id. */
function buildSecrets(headers: FastifyRequest['headers'], uploads: BuildSecretUploads): Record<string, Buffer> | undefined {
  const id = headers[BUILD_SECRETS_ID_HEADER.toLowerCase()];
  if (typeof id === 'string' && id !== '') {
    const taken = uploads.take(id);
    if (!taken) throw new InvalidArgumentError(`build secrets ${id} are unknown or expired (an upload is kept for a minute and used once): upload them again`);
    return taken;
  }
  const header = headers[BUILD_SECRETS_HEADER.toLowerCase()];
  if (typeof header !== 'string' || header === '') return undefined;
  try {
    const secrets = decodeBuildSecrets(header);
    checkBuildSecrets(secrets);
    return secrets;
  } catch (err) {
    throw err instanceof BerthError ? err : new InvalidArgumentError((err as Error).message);
  }
}

/**
 * `POST /build` (the classic builder): the body is the context tar; the answer Docker's JSON
 * build stream. Errors before any output are plain error responses; a failing step after
 * that is an `{"errorDetail":{"code"?,"message"},"error"}` line: a RUN's exit code as `code`
 * (the docker CLI exits with it, as with Docker), none otherwise (exit 1).
 */
export function buildRoutes(app: FastifyInstance, engine: EngineLike): void {
  const uploads = new BuildSecretUploads();
  buildSecretRoutes(app, uploads);
  app.post('/build', async (request: FastifyRequest, reply) => {
    const q = request.query as Query;
    const remote = optString(q['remote']);
    if (remote) throw new UnsupportedError(`remote build contexts (${remote}) are not supported by Berth: send the context in the request body`);
    const rm = optString(q['rm']);
    const out = new JsonStream(reply);
    try {
      const buildArgs = jsonMap<string | null>(q['buildargs'], 'buildargs');
      const labels = jsonMap<string>(q['labels'], 'labels');
      const dockerfile = optString(q['dockerfile']);
      const target = optString(q['target']);
      const networkMode = optString(q['networkmode']);
      const extraHosts = stringList(q['extrahosts']);
      const cacheFrom = jsonList(q['cachefrom'], 'cachefrom');
      const auth = registryConfig(request.headers['x-registry-config']);
      const platform = optString(q['platform']);
      const noCacheFilter = jsonList(q['nocachefilter'], 'nocachefilter');
      const secrets = buildSecrets(request.headers, uploads);
      await engine.builder.build(rawBody(request), {
        tags: stringList(q['t']),
        ...(dockerfile ? { dockerfile } : {}),
        ...(buildArgs ? { buildArgs } : {}),
        ...(labels ? { labels } : {}),
        ...(target ? { target } : {}),
        ...(networkMode ? { networkMode } : {}),
        ...(extraHosts.length ? { extraHosts } : {}),
        ...(cacheFrom ? { cacheFrom } : {}),
        ...(auth ? { auth } : {}),
        ...(platform ? { platform } : {}),
        ...(noCacheFilter ? { noCacheFilter } : {}),
        ...(secrets ? { secrets } : {}),
        noCache: boolValue(q['nocache']),
        rm: rm === undefined ? true : boolValue(q['rm']),
        forceRm: boolValue(q['forcerm']),
        quiet: boolValue(q['q']),
        pull: boolValue(q['pull']),
        onProgress: (msg) => out.write(msg),
        signal: out.aborted.signal,
      });
      out.end();
    } catch (err) {
      if (!out.headersSent) throw err;
      const message = err instanceof Error ? err.message : String(err);
      // A failed RUN carries its exit code, which the docker CLI exits with; other errors none (exit 1).
      const code = err instanceof BuildStepError ? err.exitCode : undefined;
      out.write({ errorDetail: { ...(code !== undefined ? { code } : {}), message }, error: message });
      out.end();
    }
  });

  app.post('/build/prune', async () => {
    const res = await engine.builder.pruneCache();
    return { CachesDeleted: res.CachesDeleted.length ? res.CachesDeleted : null, SpaceReclaimed: res.SpaceReclaimed };
  });
}
