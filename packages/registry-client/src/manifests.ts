import {
  BerthError,
  DigestMismatchError,
  MANIFEST_ACCEPT,
  MAX_MANIFEST_SIZE,
  NotFoundError,
  digestOf,
  isDigest,
  parseAnyManifest,
  type AnyManifest,
  type Descriptor,
  type Digest,
  type Reference,
} from '@berth/image-format';
import { repositoryScope } from './auth/authorizer.js';
import { readErrorBody, statusError } from './registry-error.js';
import type { RegistrySession } from './session.js';

/** A manifest or index as fetched: its exact bytes plus what they parse to. */
export interface FetchedManifest {
  bytes: Buffer;
  /** mediaType, digest and size of `bytes`. */
  descriptor: Descriptor;
  parsed: AnyManifest;
}

export const ACCEPT_HEADER = MANIFEST_ACCEPT.join(', ');

function manifestPath(ref: Reference, target: string): string {
  return `/v2/${ref.path}/manifests/${target}`;
}

export function manifestTarget(ref: Reference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/**
 * GETs a manifest by tag or digest with every manifest type in Accept, reads at most
 * 4 MiB, and checks the bytes against the digest asked for (or the registry's
 * Docker-Content-Digest for a tag).
 */
export async function fetchManifest(
  session: RegistrySession,
  ref: Reference,
  target = manifestTarget(ref),
  signal?: AbortSignal,
): Promise<FetchedManifest> {
  const res = await session.send({
    method: 'GET',
    url: manifestPath(ref, target),
    headers: { accept: ACCEPT_HEADER },
    scopes: [repositoryScope(ref.path, 'pull')],
    signal,
  });
  if (res.status === 404) {
    const detail = await readErrorBody(res);
    if (/name unknown/i.test(detail)) throw new NotFoundError(`manifest unknown: ${ref.toString()} (repository ${ref.name} not found)`);
    throw new NotFoundError(`manifest unknown: ${ref.toString()}`);
  }
  if (res.status !== 200) throw statusError(res.status, `manifest ${ref.toString()}`, await readErrorBody(res));
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    total += (chunk as Buffer).length;
    if (total > MAX_MANIFEST_SIZE) {
      res.body.destroy();
      throw new BerthError('InvalidArgument', `manifest ${ref.toString()} is larger than ${MAX_MANIFEST_SIZE} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  const bytes = Buffer.concat(chunks);
  const actual = digestOf(bytes);
  const expected = isDigest(target) ? target : headerValue(res.headers['docker-content-digest']);
  // the registry's header is only checkable when it uses our algorithm
  if (expected && expected.startsWith('sha256:') && expected !== actual) {
    throw new DigestMismatchError(expected, actual, `manifest ${ref.toString()}`);
  }
  const parsed = parseAnyManifest(bytes, headerValue(res.headers['content-type']));
  return { bytes, descriptor: { mediaType: parsed.mediaType, digest: actual, size: bytes.length }, parsed };
}

/** HEADs a manifest: its descriptor (digest from Docker-Content-Digest). */
export async function headManifest(session: RegistrySession, ref: Reference, signal?: AbortSignal): Promise<Descriptor> {
  const res = await session.send({
    method: 'HEAD',
    url: manifestPath(ref, manifestTarget(ref)),
    headers: { accept: ACCEPT_HEADER },
    scopes: [repositoryScope(ref.path, 'pull')],
    signal,
  });
  await res.body.dump();
  if (res.status === 404) throw new NotFoundError(`manifest unknown: ${ref.toString()}`);
  if (res.status !== 200) throw statusError(res.status, `manifest ${ref.toString()}`, '');
  const digest = headerValue(res.headers['docker-content-digest']) ?? ref.digest;
  if (!digest || !isDigest(digest)) {
    // a registry that omits the header: fall back to a GET
    return (await fetchManifest(session, ref, manifestTarget(ref), signal)).descriptor;
  }
  const mediaType = headerValue(res.headers['content-type'])?.split(';')[0]?.trim() ?? '';
  const size = Number(headerValue(res.headers['content-length']) ?? '0');
  return { mediaType, digest: digest as Digest, size };
}
