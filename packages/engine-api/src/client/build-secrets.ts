/** The header `berth build --secret` values travel in: base64url JSON of id -> base64 value. */
export const BUILD_SECRETS_HEADER = 'X-Berth-Build-Secrets';

export function encodeBuildSecrets(secrets: Record<string, Buffer>): string {
  const out: Record<string, string> = {};
  for (const [id, value] of Object.entries(secrets)) out[id] = value.toString('base64');
  return Buffer.from(JSON.stringify(out)).toString('base64url');
}

/** The header's secrets, or an error message. */
export function decodeBuildSecrets(header: string): Record<string, Buffer> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
  } catch {
    throw new Error(`invalid ${BUILD_SECRETS_HEADER} header: not base64url JSON`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`invalid ${BUILD_SECRETS_HEADER} header: not an object`);
  const out: Record<string, Buffer> = {};
  for (const [id, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (typeof value !== 'string') throw new Error(`invalid ${BUILD_SECRETS_HEADER} header: secret ${id} is not a string`);
    out[id] = Buffer.from(value, 'base64');
  }
  return out;
}
