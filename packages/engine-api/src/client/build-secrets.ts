import { InvalidArgumentError } from '@berth/image-format';

/** The header `berth build --secret` values travel in: base64url JSON of id -> base64 value. */
export const BUILD_SECRETS_HEADER = 'X-Berth-Build-Secrets';
/** The header naming secrets uploaded before the build (`POST /build/secrets`), for those too big for a header. */
export const BUILD_SECRETS_ID_HEADER = 'X-Berth-Build-Secrets-Id';
/** BuildKit's limit for one secret (its session's MaxSecretSize): a larger one is refused as BuildKit refuses it. */
export const MAX_BUILD_SECRET_SIZE = 500 * 1024;
/** What one build's secrets may hold in all (the upload's limit). */
export const MAX_BUILD_SECRETS_TOTAL = 4 * 1024 * 1024;
/**
 * Encoded secrets up to this size go in the header; larger ones are uploaded first. Node
 * servers refuse more than 16 KiB of headers in all, and the request has others.
 */
export const BUILD_SECRETS_HEADER_MAX = 8 * 1024;

export function encodeBuildSecrets(secrets: Record<string, Buffer>): string {
  return Buffer.from(JSON.stringify(secretsToJson(secrets))).toString('base64url');
}

/** Refuses what no daemon takes: a secret over BuildKit's size, or more than a build may hold. */
export function checkBuildSecrets(secrets: Record<string, Buffer>): void {
  let total = 0;
  for (const [id, value] of Object.entries(secrets)) {
    if (value.length > MAX_BUILD_SECRET_SIZE) throw new InvalidArgumentError(`secret ${id} too big: ${value.length} bytes (at most ${MAX_BUILD_SECRET_SIZE / 1024} KiB, as BuildKit)`);
    total += value.length;
  }
  if (total > MAX_BUILD_SECRETS_TOTAL) throw new InvalidArgumentError(`build secrets too big: ${total} bytes in all (at most ${MAX_BUILD_SECRETS_TOTAL / 1024 / 1024} MiB)`);
}

/** The header's secrets, or an error message. */
export function decodeBuildSecrets(header: string): Record<string, Buffer> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
  } catch {
    throw new Error(`invalid ${BUILD_SECRETS_HEADER} header: not base64url JSON`);
  }
  return secretsFromJson(parsed, `${BUILD_SECRETS_HEADER} header`);
}

/** `{id: base64}` (the header's JSON, and the body of `POST /build/secrets`) to the values. */
export function secretsFromJson(parsed: unknown, what = 'build secrets'): Record<string, Buffer> {
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`invalid ${what}: not an object`);
  const out: Record<string, Buffer> = {};
  for (const [id, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (typeof value !== 'string') throw new Error(`invalid ${what}: secret ${id} is not a string`);
    out[id] = Buffer.from(value, 'base64');
  }
  return out;
}

/** The JSON `POST /build/secrets` takes. */
export function secretsToJson(secrets: Record<string, Buffer>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [id, value] of Object.entries(secrets)) out[id] = value.toString('base64');
  return out;
}
