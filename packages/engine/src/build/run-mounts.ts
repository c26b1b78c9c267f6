import { posix } from 'node:path';
import { UnsupportedError } from '@berth/image-format';

/** One `RUN --mount=...` (BuildKit's fields, defaults applied). */
export interface MountSpec {
  type: 'bind' | 'cache' | 'tmpfs' | 'secret';
  /** Absolute path in the RUN's container. */
  target: string;
  /** Path inside the source (bind, cache with `from`); for secrets, unused. */
  source: string;
  /** Stage name/index or image (bind, cache); undefined: the build context (bind) or empty (cache). */
  from?: string;
  readonly: boolean;
  /** cache: id (default the target); secret: id (default the target's base name). */
  id: string;
  sharing: 'shared' | 'private' | 'locked';
  mode?: number;
  uid?: number;
  gid?: number;
  /** secret: fail when the secret was not given (else the mount is skipped). */
  required: boolean;
  /** secret: also (or instead, without target) exposed as this environment variable. */
  env?: string;
  /** tmpfs: size limit in bytes. */
  size?: number;
}

/** Splits `a=b,"c=d,e",f` as Go's csv reader does (BuildKit reads --mount with it). */
function csvFields(spec: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < spec.length; i++) {
    const c = spec[i]!;
    if (quoted) {
      if (c === '"' && spec[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out.map((f) => f.trim()).filter((f) => f !== '');
}

function bool(key: string, v: string | undefined): boolean {
  if (v === undefined) return true;
  if (/^(true|1)$/i.test(v)) return true;
  if (/^(false|0)$/i.test(v)) return false;
  throw new Error(`invalid value for ${key}: ${v}`);
}

function int(key: string, v: string, base = 10): number {
  const n = base === 8 ? (/^[0-7]+$/.test(v) ? parseInt(v, 8) : NaN) : /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isFinite(n)) throw new Error(`invalid value for ${key}: ${v}`);
  return n;
}

/** `k` and `k[mMgGkK]` sizes, as BuildKit's tmpfs `size=`. */
function bytes(v: string): number {
  const m = /^(\d+)([kKmMgG]?)[bB]?$/.exec(v);
  if (!m) throw new Error(`invalid value for size: ${v}`);
  return Number(m[1]) * ({ '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 } as Record<string, number>)[m[2]!.toLowerCase()]!;
}

/**
 * Parses one `--mount` value (BuildKit's runmount rules). `expand` expands build args and
 * ENV in each value (done when the RUN runs; the parser checks the syntax with none).
 */
export function parseMountSpec(spec: string, expand: (v: string) => string = (v) => v): MountSpec {
  const kv = new Map<string, string | undefined>();
  let type = 'bind';
  for (const field of csvFields(spec)) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? undefined : expand(field.slice(eq + 1));
    if (key === 'type') {
      if (value === undefined) throw new Error(`invalid mount: type needs a value in ${JSON.stringify(spec)}`);
      type = value.toLowerCase();
    } else kv.set(key, value);
  }
  if (type === 'ssh') {
    throw new UnsupportedError('RUN --mount=type=ssh is not supported by Berth\'s builder (it forwards no SSH agent): fetch private sources before the build, or use a secret mount');
  }
  if (!['bind', 'cache', 'tmpfs', 'secret'].includes(type)) throw new Error(`unsupported mount type "${type}" (bind, cache, tmpfs, secret)`);
  const m: MountSpec = { type: type as MountSpec['type'], target: '', source: '', readonly: type === 'bind' || type === 'secret', id: '', sharing: 'shared', required: false };
  for (const [key, value] of kv) {
    const need = (): string => {
      if (value === undefined) throw new Error(`invalid mount: ${key} needs a value`);
      return value;
    };
    switch (key) {
      case 'target':
      case 'dst':
      case 'destination':
        m.target = need();
        break;
      case 'source':
      case 'src':
        m.source = need();
        break;
      case 'from':
        m.from = need();
        break;
      case 'readonly':
      case 'ro':
        m.readonly = bool(key, value);
        break;
      case 'readwrite':
      case 'rw':
        m.readonly = !bool(key, value);
        break;
      case 'id':
        m.id = need();
        break;
      case 'sharing': {
        const v = need();
        if (v !== 'shared' && v !== 'private' && v !== 'locked') throw new Error(`unsupported sharing value "${v}" (shared, private, locked)`);
        m.sharing = v;
        break;
      }
      case 'mode':
        m.mode = int(key, need(), 8);
        break;
      case 'uid':
        m.uid = int(key, need());
        break;
      case 'gid':
        m.gid = int(key, need());
        break;
      case 'required':
        m.required = bool(key, value);
        break;
      case 'env':
        m.env = need();
        break;
      case 'size':
        m.size = bytes(need());
        break;
      default:
        throw new Error(`unexpected key '${key}' in '${spec}'`);
    }
  }
  if (m.type === 'secret') {
    if (!m.id && m.target) m.id = posix.basename(m.target);
    if (!m.id) throw new Error(`invalid mount: a secret mount needs an id or a target in ${JSON.stringify(spec)}`);
    if (!m.target && !m.env) m.target = `/run/secrets/${m.id}`;
  } else if (!m.target) throw new Error(`invalid mount: ${m.type} mount needs a target in ${JSON.stringify(spec)}`);
  if (m.target && !m.target.startsWith('/')) m.target = '/' + m.target;
  if (m.target) m.target = posix.normalize(m.target);
  if (m.type === 'cache' && !m.id) m.id = m.target;
  if (m.type !== 'bind' && m.type !== 'cache' && m.from !== undefined) throw new Error(`invalid mount: from is not allowed for ${m.type} mounts`);
  return m;
}
