import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import Ajv04 from 'ajv-draft-04';

/** The reference documents and schemas the tests compare with (copied into the package: see references/README.md). */
export const SHARED_WINDOWS = fileURLToPath(new URL('./references', import.meta.url));

export function reference(rel: string): unknown {
  return JSON.parse(readFileSync(join(SHARED_WINDOWS, 'samples', rel), 'utf8'));
}

/** Every leaf of a JSON value by its path (`/A/B/0/C`): what "field by field" compares. */
export function flatten(v: unknown, path = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  if (v !== null && typeof v === 'object') {
    const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x] as const) : Object.entries(v);
    if (entries.length === 0) out[path || '/'] = Array.isArray(v) ? [] : {};
    for (const [k, x] of entries) flatten(x, `${path}/${k}`, out);
  } else out[path || '/'] = v;
  return out;
}

let oci: ((doc: unknown) => string[]) | undefined;
/** The OCI runtime-spec v1.3.0 config schema (draft-04; `#definitions/` refs fixed as its README says). */
export function ociConfigErrors(doc: unknown): string[] {
  if (!oci) {
    const dir = join(SHARED_WINDOWS, 'oci-runtime-spec');
    const ajv = new Ajv04({ allErrors: true, strict: false });
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.json'))) {
      ajv.addSchema(JSON.parse(readFileSync(join(dir, f), 'utf8').replace(/"#definitions\//g, '"#/definitions/')) as object, f);
    }
    const v = ajv.getSchema('config-schema.json')!;
    oci = (d) => (v(d) ? [] : (v.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`));
  }
  return oci(doc);
}
