import { InvalidArgumentError } from '@berth/image-format';

/**
 * The part of Docker's shell lexer that Dockerfile instructions use: quotes ('' literal,
 * "" with expansion), the escape character, and `$VAR`, `${VAR}`, `${VAR:-x}`, `${VAR-x}`,
 * `${VAR:+x}`, `${VAR+x}`. Words are not split on the result of an expansion.
 */
export class WordExpander {
  constructor(
    private readonly escape = '\\',
    private readonly lookup: (name: string) => string | undefined = () => undefined,
  ) {}

  /** One word: quotes removed, variables expanded. */
  word(text: string): string {
    return this.process(text, false)[0] ?? '';
  }

  /** Whitespace-separated words (quoted whitespace kept), each processed. */
  words(text: string): string[] {
    return this.process(text, true);
  }

  /** Variables expanded; quotes and escapes kept as written (a COPY heredoc's body). */
  raw(text: string): string {
    let out = '';
    let i = 0;
    while (i < text.length) {
      const ch = text[i]!;
      if (ch === this.escape && i + 1 < text.length) {
        out += ch + text[i + 1];
        i += 2;
      } else if (ch === '$') {
        const r = this.variable(text, i);
        out += r.value;
        i = r.next;
      } else {
        out += ch;
        i++;
      }
    }
    return out;
  }

  private process(text: string, split: boolean): string[] {
    const out: string[] = [];
    let cur = '';
    let inWord = false;
    let i = 0;
    const esc = this.escape;
    while (i < text.length) {
      const ch = text[i]!;
      if (split && /\s/.test(ch)) {
        if (inWord) out.push(cur);
        cur = '';
        inWord = false;
        i++;
        continue;
      }
      inWord = true;
      if (ch === esc) {
        if (i + 1 < text.length) cur += text[i + 1];
        i += 2;
        continue;
      }
      if (ch === "'") {
        const end = text.indexOf("'", i + 1);
        if (end < 0) throw new InvalidArgumentError('unexpected end of statement while looking for matching single-quote');
        cur += text.slice(i + 1, end);
        i = end + 1;
        continue;
      }
      if (ch === '"') {
        i++;
        let closed = false;
        while (i < text.length) {
          const c = text[i]!;
          if (c === '"') {
            closed = true;
            i++;
            break;
          }
          if (c === esc && i + 1 < text.length && (text[i + 1] === '"' || text[i + 1] === '$' || text[i + 1] === esc)) {
            cur += text[i + 1];
            i += 2;
            continue;
          }
          if (c === '$') {
            const r = this.variable(text, i);
            cur += r.value;
            i = r.next;
            continue;
          }
          cur += c;
          i++;
        }
        if (!closed) throw new InvalidArgumentError('unexpected end of statement while looking for matching double-quote');
        continue;
      }
      if (ch === '$') {
        const r = this.variable(text, i);
        cur += r.value;
        i = r.next;
        continue;
      }
      cur += ch;
      i++;
    }
    if (inWord || !split) out.push(cur);
    return out;
  }

  /** `text[at]` is `$`. */
  private variable(text: string, at: number): { value: string; next: number } {
    const next = text[at + 1];
    if (next === '{') {
      const close = matchingBrace(text, at + 1);
      if (close < 0) throw new InvalidArgumentError(`missing '}' in ${text.slice(at)}`);
      const inner = text.slice(at + 2, close);
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([\s\S]*))?$/.exec(inner);
      if (!m) throw new InvalidArgumentError(`failed to process "${text}": bad substitution`);
      const name = m[1]!;
      const op = m[2];
      const value = this.lookup(name);
      let result: string;
      if (!op) result = value ?? '';
      else {
        const alt = this.word(m[3] ?? '');
        const set = op.startsWith(':') ? value !== undefined && value !== '' : value !== undefined;
        result = op.endsWith('-') ? (set ? value! : alt) : set ? alt : '';
      }
      return { value: result, next: close + 1 };
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(at + 1));
    if (!m) return { value: '$', next: at + 1 };
    return { value: this.lookup(m[0]) ?? '', next: at + 1 + m[0].length };
  }
}

function matchingBrace(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

/** Splits on whitespace, keeping quoted parts (and their quotes) together: Docker's parse-time split of `ENV a="b c" d=e`. */
export function splitRawWords(text: string, escape = '\\'): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === escape && i + 1 < text.length) {
      cur += ch + text[i + 1];
      i++;
      continue;
    }
    if (quote) {
      if (ch === quote) quote = undefined;
      cur += ch;
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = ch;
      cur += ch;
      continue;
    }
    if (/\s/.test(ch)) {
      if (cur !== '') out.push(cur);
      cur = '';
      continue;
    }
    cur += ch;
  }
  if (cur !== '') out.push(cur);
  return out;
}
