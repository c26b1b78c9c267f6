/** One authentication challenge from a `WWW-Authenticate` header. */
export interface AuthChallenge {
  /** Lower-cased scheme: `bearer`, `basic`, ... */
  scheme: string;
  /** Parameters with lower-cased names (`realm`, `service`, `scope`, `error`). */
  params: Record<string, string>;
}

const TOKEN = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/**
 * Parses a `WWW-Authenticate` value (RFC 7235): one or more challenges, each a scheme
 * followed by comma-separated `name=value` or `name="quoted \"value\""` parameters.
 * Malformed trailing input is ignored rather than thrown: a registry's odd header must
 * not hide the challenges that did parse.
 */
export function parseWWWAuthenticate(header: string): AuthChallenge[] {
  const out: AuthChallenge[] = [];
  let i = 0;
  const n = header.length;
  const skipWs = () => {
    while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && TOKEN.test(header[i]!)) i++;
    return header.slice(start, i);
  };
  const readQuoted = (): string => {
    // header[i] === '"'
    i++;
    let value = '';
    while (i < n && header[i] !== '"') {
      if (header[i] === '\\' && i + 1 < n) i++;
      value += header[i];
      i++;
    }
    i++; // closing quote
    return value;
  };

  let current: AuthChallenge | undefined;
  while (i < n) {
    skipWs();
    if (header[i] === ',') {
      i++;
      continue;
    }
    const save = i;
    const word = readToken();
    if (!word) {
      i++; // skip a stray character
      continue;
    }
    skipWs();
    if (header[i] === '=' && current) {
      i++;
      skipWs();
      let value: string;
      if (header[i] === '"') value = readQuoted();
      else {
        const start = i;
        while (i < n && header[i] !== ',' && header[i] !== ' ') i++;
        value = header.slice(start, i);
      }
      current.params[word.toLowerCase()] = value;
      continue;
    }
    if (header[i] === '=' && !current) {
      // a parameter before any scheme: not a valid challenge; skip it
      i = save + word.length + 1;
      continue;
    }
    current = { scheme: word.toLowerCase(), params: {} };
    out.push(current);
  }
  return out;
}
