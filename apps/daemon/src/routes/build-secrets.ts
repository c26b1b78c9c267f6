import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { BerthError, InvalidArgumentError } from '@berth/image-format';
import { MAX_BUILD_SECRETS_TOTAL, checkBuildSecrets, secretsFromJson } from '@berth/engine-api';
import { requiredJson } from '../http/body.js';

/** The JSON of the largest upload (base64 values: 4/3 of the bytes), with room for ids and a little more, so that the total is refused by its own words. */
const UPLOAD_BODY_LIMIT = Math.ceil((MAX_BUILD_SECRETS_TOTAL * 4) / 3) + 1024 * 1024;

/**
 * Secrets `berth build` uploads before a build when they are too big for the
 * X-Berth-Build-Secrets header (Docker's API carries secrets only inside a BuildKit
 * session). Held in memory only, taken once by the build that names them, forgotten after
 * `ttlMs` otherwise; all uploads together hold at most `maxBytes`.
 */
export class BuildSecretUploads {
  private readonly held = new Map<string, { secrets: Record<string, Buffer>; size: number; timer: NodeJS.Timeout }>();
  private bytes = 0;

  constructor(
    private readonly ttlMs = 60_000,
    private readonly maxBytes = 4 * MAX_BUILD_SECRETS_TOTAL,
  ) {}

  put(secrets: Record<string, Buffer>): string {
    const size = Object.values(secrets).reduce((a, v) => a + v.length, 0);
    if (this.bytes + size > this.maxBytes) throw new BerthError('Unavailable', 'too many build secrets waiting for their builds: try again when a build has started');
    // unguessable: the id is all a build needs to read them
    const id = randomBytes(16).toString('hex');
    const timer = setTimeout(() => this.take(id), this.ttlMs);
    timer.unref();
    this.held.set(id, { secrets, size, timer });
    this.bytes += size;
    return id;
  }

  /** The upload's secrets, now forgotten here; undefined when unknown or expired. */
  take(id: string): Record<string, Buffer> | undefined {
    const h = this.held.get(id);
    if (!h) return undefined;
    this.held.delete(id);
    clearTimeout(h.timer);
    this.bytes -= h.size;
    return h.secrets;
  }

  clear(): void {
    for (const id of [...this.held.keys()]) this.take(id);
  }
}

/** `POST /build/secrets` (Berth's): `{id: base64}` in, `{"Id"}` out, for a `POST /build` to name in X-Berth-Build-Secrets-Id. */
export function buildSecretRoutes(app: FastifyInstance, uploads: BuildSecretUploads): void {
  app.addHook('onClose', async () => uploads.clear());
  app.post('/build/secrets', { bodyLimit: UPLOAD_BODY_LIMIT }, async (request, reply) => {
    let secrets: Record<string, Buffer>;
    try {
      secrets = secretsFromJson(requiredJson<unknown>(request));
      checkBuildSecrets(secrets);
    } catch (err) {
      throw err instanceof BerthError ? err : new InvalidArgumentError((err as Error).message);
    }
    return reply.code(201).send({ Id: uploads.put(secrets) });
  });
}
