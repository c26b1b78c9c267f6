import { readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';

/**
 * `.dockerignore` as Docker reads it (Docker's pattern rules: `*`, `?`, `[...]`, `**`, `!`
 * re-includes, the last matching line wins, a matching directory excludes everything below
 * it). The client applies it when it sends a context; the daemon's classic builder only uses
 * it to drop the Dockerfile and .dockerignore themselves.
 */
export class DockerIgnore {
  private readonly rules: { re: RegExp; negate: boolean }[];

  constructor(lines: string[]) {
    this.rules = [];
    for (const raw of lines) {
      let line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const negate = line.startsWith('!');
      if (negate) line = line.slice(1).trim();
      line = posix.normalize(line).replace(/^\/+/, '').replace(/\/+$/, '');
      if (line === '' || line === '.') continue;
      this.rules.push({ re: patternRegExp(line), negate });
    }
  }

  static async read(dir: string): Promise<DockerIgnore> {
    const text = await readFile(join(dir, '.dockerignore'), 'utf8').catch(() => '');
    return new DockerIgnore(text.split('\n'));
  }

  get hasExceptions(): boolean {
    return this.rules.some((r) => r.negate);
  }

  /** True when `rel` (slash separated, relative to the context) is left out. */
  excludes(rel: string): boolean {
    let excluded = false;
    const parents: string[] = [];
    const parts = rel.split('/');
    for (let i = 1; i <= parts.length; i++) parents.push(parts.slice(0, i).join('/'));
    for (const r of this.rules) {
      if (parents.some((p) => r.re.test(p))) excluded = !r.negate;
    }
    return excluded;
  }
}

/** A .dockerignore pattern (Go's filepath.Match plus `**`) as an anchored RegExp. */
export function patternRegExp(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        let body = pattern.slice(i + 1, end);
        if (body.startsWith('!') || body.startsWith('^')) body = '^' + body.slice(1);
        re += '[' + body.replace(/\\/g, '\\\\') + ']';
        i = end;
      }
    } else if (c === '\\' && i + 1 < pattern.length) {
      re += escapeRe(pattern[++i]!);
    } else re += escapeRe(c);
  }
  return new RegExp(re + '$');
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
