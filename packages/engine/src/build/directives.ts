import { InvalidArgumentError, UnsupportedError } from '@berth/image-format';

/**
 * The `# syntax=` directive names the frontend that reads the Dockerfile. Berth's builder is
 * itself the `docker/dockerfile:1` frontend (any 1.x tag, `-labs` included, with or without
 * registry prefix or digest); another frontend image would be code Berth cannot run, so it
 * is refused by name rather than silently read with different rules.
 */
export function checkSyntaxDirective(value: string): void {
  const ref = value.trim();
  const m = /^(?:(?:docker\.io|index\.docker\.io|registry-1\.docker\.io)\/)?docker\/dockerfile(?::([^@\s]+))?(?:@sha256:[0-9a-f]{64})?$/.exec(ref);
  const tag = m ? (m[1] ?? 'latest') : undefined;
  if (tag !== undefined && /^(latest|labs|1(\.\d+){0,2}(-labs)?)$/.test(tag)) return;
  throw new UnsupportedError(
    `unsupported Dockerfile frontend "${ref}" (# syntax=${ref}): Berth's builder is the docker/dockerfile:1 frontend and runs no other frontend images; ` +
      'remove the directive or use "# syntax=docker/dockerfile:1"',
  );
}

/** The `# check=skip=<names|all>;error=<bool>` directive (BuildKit's build checks). */
export interface CheckDirective {
  skip: string[];
  error: boolean;
}

export function parseCheckDirective(value: string): CheckDirective {
  const out: CheckDirective = { skip: [], error: false };
  for (const part of value.split(';')) {
    const p = part.trim();
    if (p === '') continue;
    const eq = p.indexOf('=');
    const key = eq < 0 ? p : p.slice(0, eq).trim();
    const v = eq < 0 ? '' : p.slice(eq + 1).trim();
    if (key === 'skip') out.skip = v.split(',').map((s) => s.trim()).filter(Boolean);
    else if (key === 'error') {
      if (!/^(true|false)$/i.test(v)) throw new InvalidArgumentError(`invalid check directive "${value}": error must be true or false`);
      out.error = v.toLowerCase() === 'true';
    } else throw new InvalidArgumentError(`invalid check directive "${value}": unknown key ${JSON.stringify(key)} (skip, error)`);
  }
  return out;
}
