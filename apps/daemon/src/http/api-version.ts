import type { IncomingMessage } from 'node:http';
import { InvalidArgumentError } from '@berth/image-format';
import { API_VERSION, MIN_API_VERSION, compareApiVersions } from '@berth/engine-api';

const VERSIONED = /^\/v([0-9.]+)(\/.*)?$/;
const REQUESTED = Symbol('berth.apiVersion');

type VersionedMessage = IncomingMessage & { [REQUESTED]?: string };

/**
 * fastify's rewriteUrl: `/v1.43/containers/json` becomes `/containers/json`, and the
 * version is remembered on the raw request for `requestedVersion`.
 */
export function stripVersionPrefix(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const m = VERSIONED.exec(url.split('?')[0] as string);
  if (!m) return url;
  (req as VersionedMessage)[REQUESTED] = m[1];
  const rest = url.slice(`/v${m[1]}`.length);
  return rest === '' || rest.startsWith('?') ? `/${rest}` : rest;
}

/**
 * The API version a request asked for (its `/v1.xx/` prefix, else the newest), checked
 * against the supported range with Docker's messages (400, as Docker's InvalidParameter).
 */
export function requestedVersion(req: IncomingMessage): string {
  const v = (req as VersionedMessage)[REQUESTED] ?? API_VERSION;
  if (compareApiVersions(v, MIN_API_VERSION) < 0) {
    throw new InvalidArgumentError(
      `client version ${v} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`,
    );
  }
  if (compareApiVersions(v, API_VERSION) > 0) {
    throw new InvalidArgumentError(`client version ${v} is too new. Maximum supported API version is ${API_VERSION}`);
  }
  return v;
}

/** True when the request's API version is at least `v`. */
export function atLeast(requested: string, v: string): boolean {
  return compareApiVersions(requested, v) >= 0;
}
