import { BerthError, NotFoundError, normalizeReference } from '@berth/image-format';
import type { ImageService } from '../services.js';
import type { RegistryAuth } from '../docker-types.js';
import type { BuildOptions } from './types.js';

/** A FROM (or --from) image: local, pulled when missing (or always with `pull`); busybox falls back to the built-in one offline. */
export async function resolveBaseImage(images: ImageService, opts: BuildOptions, ref: string, platform?: string): Promise<string> {
  if (!opts.pull) {
    try {
      return (await images.inspect(ref)).Id;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
  }
  try {
    const auth = authFor(opts.auth, ref);
    const emit = opts.onProgress;
    return (
      await images.pull(ref, {
        onProgress: (m) => (opts.quiet || !emit ? undefined : emit(m)),
        ...(auth ? { auth } : {}),
        ...(platform ? { platform } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      })
    ).Id;
  } catch (err) {
    const name = safeFamiliar(ref);
    if ((name === 'busybox:latest' || name === 'busybox') && err instanceof BerthError && err.code === 'Unavailable') {
      return (await images.ensureBuiltin('busybox')).Id;
    }
    if (opts.pull) {
      try {
        return (await images.inspect(ref)).Id;
      } catch {
        // fall through to the pull's error
      }
    }
    throw err;
  }
}

/** The credentials given for a reference's registry (keys as docker's config.json has them). */
function authFor(all: Record<string, RegistryAuth> | undefined, ref: string): RegistryAuth | undefined {
  if (!all) return undefined;
  let domain: string;
  try {
    domain = normalizeReference(ref).domain;
  } catch {
    return undefined;
  }
  for (const [server, auth] of Object.entries(all)) {
    const host = server.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
    if (host === domain || (domain === 'docker.io' && ['index.docker.io', 'registry-1.docker.io', 'docker.io'].includes(host))) return { ...auth, serveraddress: server };
  }
  return undefined;
}

function safeFamiliar(ref: string): string {
  try {
    return normalizeReference(ref).familiar();
  } catch {
    return ref;
  }
}
