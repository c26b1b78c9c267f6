// A Go text/template evaluator for the templates docker users write in --format:
// fields (`.ID`, `.Config.Env`, `.Label "x"`), pipelines, `if`/`else`/`range`/`with`,
// variables, and docker's functions (json, upper, lower, title, split, join, index,
// len, pad, truncate, printf, eq/ne/lt/le/gt/ge, and/or/not, print/println).
import { InvalidArgumentError } from '@berth/image-format';

type Value = unknown;
type TemplateFunc = (...args: Value[]) => Value;

/** A value whose fields call back: `.Label "x"` calls `Label("x")`, `.ID` calls `ID()`. */
export type Fields = Record<string, Value>;

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipe: Pipeline }
  | { kind: 'if' | 'with'; pipe: Pipeline; then: Node[]; else: Node[] }
  | { kind: 'range'; pipe: Pipeline; body: Node[]; else: Node[] };

interface Pipeline {
  decl: string[];
  assign: boolean;
  cmds: Operand[][];
}

type Operand =
  | { kind: 'field'; base: 'dot' | { var: string } | { sub: Pipeline }; path: string[] }
  | { kind: 'func'; name: string }
  | { kind: 'literal'; value: Value };

/** Docker's template functions. */
const TEMPLATE_FUNCS: Record<string, TemplateFunc> = {
  json: (v) => toJson(v),
  split: (s, sep) => String(s).split(String(sep)),
  join: (list, sep) => (Array.isArray(list) ? list.map((x) => printValue(x)).join(String(sep)) : printValue(list)),
  title: (s) => String(s).replace(/\b\w/g, (c) => c.toUpperCase()),
  lower: (s) => String(s).toLowerCase(),
  upper: (s) => String(s).toUpperCase(),
  pad: (s, l, r) => `${' '.repeat(Number(l))}${printValue(s)}${' '.repeat(Number(r))}`,
  truncate: (s, n) => {
    const chars = [...printValue(s)];
    return chars.length > Number(n) ? chars.slice(0, Number(n)).join('') : chars.join('');
  },
  println: (...args) => `${args.map(printValue).join(' ')}\n`,
  print: (...args) => args.map(printValue).join(''),
  printf: (fmt, ...args) => sprintf(String(fmt), args),
  len: (v) => (Array.isArray(v) || typeof v === 'string' ? v.length : v && typeof v === 'object' ? Object.keys(v).length : 0),
  index: (v, ...keys) => {
    let cur: Value = v;
    for (const k of keys) {
      if (cur === null || cur === undefined) return undefined;
      cur = (cur as Record<string, Value>)[String(k)];
    }
    return cur;
  },
  eq: (a, ...bs) => bs.some((b) => a === b || String(a) === String(b)),
  ne: (a, b) => !(a === b || String(a) === String(b)),
  lt: (a, b) => (a as number) < (b as number),
  le: (a, b) => (a as number) <= (b as number),
  gt: (a, b) => (a as number) > (b as number),
  ge: (a, b) => (a as number) >= (b as number),
  not: (a) => !truthy(a),
  and: (...args) => args.find((a) => !truthy(a)) ?? args[args.length - 1],
  or: (...args) => args.find((a) => truthy(a)) ?? args[args.length - 1],
};

/** docker's HeaderFunctions: while rendering a table header, functions pass their text through. */
const HEADER_FUNCS: Record<string, TemplateFunc> = {
  ...Object.fromEntries(Object.keys(TEMPLATE_FUNCS).map((k) => [k, (v: Value) => (typeof v === 'string' ? v : '')])),
  json: () => '',
  join: (v) => (typeof v === 'string' ? v : ''),
  index: () => '',
};

export class Template {
  private constructor(private readonly nodes: Node[]) {}

  static parse(source: string): Template {
    return new Template(new Parser(source).parse());
  }

  /** Renders with `data` as dot. */
  execute(data: Value, funcs: Record<string, TemplateFunc> = TEMPLATE_FUNCS): string {
    const out: string[] = [];
    new Exec(funcs, data).run(this.nodes, data, new Map(), out);
    return out.join('');
  }

  /** Renders a table header: `data` maps field names to their column titles. */
  executeHeader(headers: Record<string, string>): string {
    // `.Label "x"` titles its column with the label's name, as docker does.
    return this.execute({ ...headers, Label: (name: unknown) => String(name) }, HEADER_FUNCS);
  }
}

// ---- printing ---------------------------------------------------------------

/** Go's `%v` of a decoded-JSON value. */
export function printValue(v: Value): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (typeof v === 'function') return printValue((v as () => Value)());
  if (Array.isArray(v)) return `[${v.map(printValue).join(' ')}]`;
  if (v instanceof Date) return v.toISOString();
  const keys = Object.keys(v as object).sort();
  return `map[${keys.map((k) => `${k}:${printValue((v as Record<string, Value>)[k])}`).join(' ')}]`;
}

/** docker's `json` function: encoding/json without HTML escaping; fields that are methods are called. */
export function toJson(v: Value): string {
  const text = plainJson(v);
  // A docker formatter row marshals itself with encoding/json's defaults: HTML escaped.
  const isRow = v !== null && typeof v === 'object' && !Array.isArray(v) && Object.values(v).some((x) => typeof x === 'function');
  return isRow ? text.replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026') : text;
}

function plainJson(v: Value): string {
  return JSON.stringify(v === undefined ? null : v, (_k, x: Value) => {
    if (typeof x === 'function') return (x as TemplateFunc).length > 0 ? undefined : (x as () => Value)();
    return isGoMap(x) ? sortKeys(x as Record<string, Value>) : x;
  }) ?? 'null';
}

/**
 * Go encodes maps with sorted keys and structs in field order. An object is taken for a
 * map when some key is not an exported Go field name (`80/tcp`, `com.example`, `a`).
 */
function isGoMap(x: Value): boolean {
  if (x === null || typeof x !== 'object' || Array.isArray(x)) return false;
  const keys = Object.keys(x);
  return keys.length > 1 && keys.some((k) => !/^[A-Z][A-Za-z0-9]*$/.test(k)) && !keys.some((k) => typeof (x as Record<string, Value>)[k] === 'function');
}

function sortKeys(o: Record<string, Value>): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const k of Object.keys(o).sort()) out[k] = o[k];
  return out;
}

function truthy(v: Value): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v as object).length > 0;
  return true;
}

function sprintf(fmt: string, args: Value[]): string {
  let i = 0;
  return fmt.replace(/%([-+ 0#]*)(\d*)(?:\.(\d+))?([svdqfxt%])/g, (_m, flags: string, width: string, prec: string | undefined, verb: string) => {
    if (verb === '%') return '%';
    const a = args[i++];
    let s: string;
    switch (verb) {
      case 'q':
        s = JSON.stringify(printValue(a));
        break;
      case 'd':
        s = String(Math.trunc(Number(a)));
        break;
      case 'f':
        s = Number(a).toFixed(prec === undefined ? 6 : Number(prec));
        break;
      case 'x':
        s = typeof a === 'number' ? a.toString(16) : Buffer.from(printValue(a)).toString('hex');
        break;
      default:
        s = printValue(a);
        if (prec !== undefined && verb === 's') s = s.slice(0, Number(prec));
    }
    const w = Number(width || 0);
    return flags.includes('-') ? s.padEnd(w) : s.padStart(w, flags.includes('0') && verb !== 's' ? '0' : ' ');
  });
}

// ---- lexing and parsing ------------------------------------------------------

type Tok =
  | { t: 'field'; path: string[] }
  | { t: 'var'; name: string; path: string[] }
  | { t: 'ident'; name: string }
  | { t: 'string' | 'number' | 'bool' | 'nil'; value: Value }
  | { t: 'pipe' | 'lparen' | 'rparen' | 'declare' | 'assign' | 'comma' }
  | { t: 'rparen-field'; path: string[] };

function templateError(msg: string): InvalidArgumentError {
  return new InvalidArgumentError(`template parsing error: ${msg}`);
}

function lexAction(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  const identChar = /[A-Za-z0-9_]/;
  const readPath = (): string[] => {
    const path: string[] = [];
    while (src[i] === '.' && i + 1 < src.length && identChar.test(src[i + 1] as string)) {
      i++;
      let name = '';
      while (i < src.length && identChar.test(src[i] as string)) name += src[i++];
      path.push(name);
    }
    return path;
  };
  while (i < src.length) {
    const c = src[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '|') {
      toks.push({ t: 'pipe' });
      i++;
    } else if (c === '(') {
      toks.push({ t: 'lparen' });
      i++;
    } else if (c === ')') {
      i++;
      const path = readPath();
      toks.push(path.length > 0 ? { t: 'rparen-field', path } : { t: 'rparen' });
    } else if (c === ',') {
      toks.push({ t: 'comma' });
      i++;
    } else if (c === ':' && src[i + 1] === '=') {
      toks.push({ t: 'declare' });
      i += 2;
    } else if (c === '=') {
      toks.push({ t: 'assign' });
      i++;
    } else if (c === '"') {
      let j = i + 1;
      while (j < src.length && src[j] !== '"') j += src[j] === '\\' ? 2 : 1;
      if (j >= src.length) throw templateError('unterminated quoted string');
      toks.push({ t: 'string', value: JSON.parse(src.slice(i, j + 1)) as string });
      i = j + 1;
    } else if (c === '`') {
      const j = src.indexOf('`', i + 1);
      if (j < 0) throw templateError('unterminated raw quoted string');
      toks.push({ t: 'string', value: src.slice(i + 1, j) });
      i = j + 1;
    } else if (c === "'") {
      const j = src.indexOf("'", i + 1);
      if (j < 0) throw templateError('unterminated character constant');
      toks.push({ t: 'number', value: src.charCodeAt(i + 1) });
      i = j + 1;
    } else if (c === '.') {
      if (i + 1 < src.length && identChar.test(src[i + 1] as string) && !/[0-9]/.test(src[i + 1] as string)) {
        toks.push({ t: 'field', path: readPath() });
      } else {
        toks.push({ t: 'field', path: [] });
        i++;
      }
    } else if (c === '$') {
      i++;
      let name = '$';
      while (i < src.length && identChar.test(src[i] as string)) name += src[i++];
      toks.push({ t: 'var', name, path: readPath() });
    } else if (/[-+0-9]/.test(c)) {
      const m = /^[-+]?(0x[0-9a-fA-F]+|\d+(\.\d+)?([eE][-+]?\d+)?)/.exec(src.slice(i));
      if (!m) throw templateError(`bad number syntax: ${src.slice(i, i + 10)}`);
      toks.push({ t: 'number', value: Number(m[0]) });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      let name = '';
      while (i < src.length && identChar.test(src[i] as string)) name += src[i++];
      if (name === 'true' || name === 'false') toks.push({ t: 'bool', value: name === 'true' });
      else if (name === 'nil') toks.push({ t: 'nil', value: null });
      else toks.push({ t: 'ident', name });
    } else {
      throw templateError(`unexpected "${c}" in command`);
    }
  }
  return toks;
}

class Parser {
  private pos = 0;
  private readonly items: ({ kind: 'text'; text: string } | { kind: 'action'; src: string })[] = [];

  constructor(source: string) {
    let i = 0;
    let pendingTrim = false;
    while (i < source.length) {
      const open = source.indexOf('{{', i);
      let text = open < 0 ? source.slice(i) : source.slice(i, open);
      if (pendingTrim) text = text.replace(/^\s+/, '');
      if (open < 0) {
        if (text) this.items.push({ kind: 'text', text });
        break;
      }
      let start = open + 2;
      if (source.startsWith('- ', start) || source.startsWith('-\t', start) || source.startsWith('-\n', start)) {
        text = text.replace(/\s+$/, '');
        start += 1;
      }
      if (text) this.items.push({ kind: 'text', text });
      const close = findClose(source, start);
      if (close < 0) throw templateError('unclosed action');
      let inner = source.slice(start, close);
      pendingTrim = false;
      if (/\s-$/.test(inner)) {
        inner = inner.slice(0, -1);
        pendingTrim = true;
      }
      this.items.push({ kind: 'action', src: inner.trim() });
      i = close + 2;
    }
  }

  parse(): Node[] {
    const { nodes, end } = this.list();
    if (end !== undefined) throw templateError(`unexpected {{${end}}}`);
    return nodes;
  }

  /** Parses nodes until {{end}} or {{else...}}; returns which one stopped it. */
  private list(): { nodes: Node[]; end: string | undefined } {
    const nodes: Node[] = [];
    while (this.pos < this.items.length) {
      const item = this.items[this.pos++]!;
      if (item.kind === 'text') {
        nodes.push(item);
        continue;
      }
      const src = item.src;
      if (src.startsWith('/*')) continue;
      const kw = /^(if|range|with|end|else|define|template|block)\b\s*/.exec(src);
      if (!kw) {
        nodes.push({ kind: 'action', pipe: parsePipeline(lexAction(src)) });
        continue;
      }
      const word = kw[1] as string;
      const rest = src.slice(kw[0].length);
      if (word === 'end' || word === 'else') return { nodes, end: word === 'else' ? `else ${rest}`.trim() : 'end' };
      if (word === 'if' || word === 'with' || word === 'range') {
        nodes.push(this.control(word, rest));
        continue;
      }
      throw templateError(`{{${word}}} is not supported`);
    }
    return { nodes, end: undefined };
  }

  private control(word: 'if' | 'with' | 'range', rest: string): Node {
    const pipe = parsePipeline(lexAction(rest));
    const body = this.list();
    let elseNodes: Node[] = [];
    if (body.end === undefined) throw templateError(`unexpected EOF in {{${word}}}`);
    if (body.end.startsWith('else')) {
      const cond = body.end.slice(4).trim();
      if (cond.startsWith('if ') || cond.startsWith('with ')) {
        // {{else if x}} is {{else}}{{if x}}...{{end}} sharing the outer {{end}}
        const inner = /^(if|with)\s+(.*)$/s.exec(cond)!;
        elseNodes = [this.control(inner[1] as 'if' | 'with', inner[2] as string)];
      } else {
        const tail = this.list();
        if (tail.end !== 'end') throw templateError(`expected {{end}} in {{${word}}}`);
        elseNodes = tail.nodes;
      }
    }
    if (word === 'range') return { kind: 'range', pipe, body: body.nodes, else: elseNodes };
    return { kind: word, pipe, then: body.nodes, else: elseNodes };
  }
}

function findClose(source: string, from: number): number {
  let i = from;
  while (i < source.length) {
    const c = source[i];
    if (c === '"' || c === '`') {
      const q = c;
      i++;
      while (i < source.length && source[i] !== q) i += source[i] === '\\' && q === '"' ? 2 : 1;
      i++;
      continue;
    }
    if (source.startsWith('}}', i)) return i;
    i++;
  }
  return -1;
}

function parsePipeline(toks: Tok[]): Pipeline {
  let pos = 0;
  const decl: string[] = [];
  let assign = false;
  // `$x := pipeline` or `$i, $e := pipeline`
  const save = pos;
  while (toks[pos]?.t === 'var' && (toks[pos] as { path: string[] }).path.length === 0) {
    decl.push((toks[pos] as { name: string }).name);
    pos++;
    if (toks[pos]?.t === 'comma') {
      pos++;
      continue;
    }
    break;
  }
  if (decl.length > 0 && (toks[pos]?.t === 'declare' || toks[pos]?.t === 'assign')) {
    assign = toks[pos]!.t === 'assign';
    pos++;
  } else {
    decl.length = 0;
    pos = save;
  }
  const parsePipe = (stopAtParen: boolean): { pipe: Operand[][] } => {
    const cmds: Operand[][] = [];
    let cmd: Operand[] = [];
    while (pos < toks.length) {
      const tok = toks[pos] as Tok;
      if (tok.t === 'rparen' || tok.t === 'rparen-field') {
        if (!stopAtParen) throw templateError('unexpected right paren');
        break;
      }
      pos++;
      if (tok.t === 'pipe') {
        if (cmd.length === 0) throw templateError('missing command before |');
        cmds.push(cmd);
        cmd = [];
        continue;
      }
      if (tok.t === 'lparen') {
        const inner = parsePipe(true);
        const close = toks[pos++];
        if (!close || (close.t !== 'rparen' && close.t !== 'rparen-field')) throw templateError('unclosed left paren');
        cmd.push({ kind: 'field', base: { sub: { decl: [], assign: false, cmds: inner.pipe } }, path: close.t === 'rparen-field' ? close.path : [] });
        continue;
      }
      cmd.push(operand(tok));
    }
    if (cmd.length > 0) cmds.push(cmd);
    if (cmds.length === 0) throw templateError('missing value for command');
    return { pipe: cmds };
  };
  const { pipe } = parsePipe(false);
  return { decl, assign, cmds: pipe };
}

function operand(tok: Tok): Operand {
  switch (tok.t) {
    case 'field':
      return { kind: 'field', base: 'dot', path: tok.path };
    case 'var':
      return { kind: 'field', base: { var: tok.name }, path: tok.path };
    case 'ident':
      return { kind: 'func', name: tok.name };
    case 'string':
    case 'number':
    case 'bool':
    case 'nil':
      return { kind: 'literal', value: tok.value };
    default:
      throw templateError(`unexpected ${tok.t}`);
  }
}

// ---- execution --------------------------------------------------------------

class Exec {
  constructor(
    private readonly funcs: Record<string, TemplateFunc>,
    private readonly root: Value,
  ) {}

  run(nodes: Node[], dot: Value, vars: Map<string, Value>, out: string[]): void {
    for (const node of nodes) {
      switch (node.kind) {
        case 'text':
          out.push(node.text);
          break;
        case 'action': {
          const v = this.pipeline(node.pipe, dot, vars);
          if (node.pipe.decl.length === 0) out.push(printValue(v));
          break;
        }
        case 'if':
        case 'with': {
          const scoped = new Map(vars);
          const v = this.pipeline(node.pipe, dot, scoped);
          if (truthy(v)) this.run(node.then, node.kind === 'with' ? v : dot, scoped, out);
          else this.run(node.else, dot, scoped, out);
          break;
        }
        case 'range': {
          const scoped = new Map(vars);
          const decl = node.pipe.decl;
          const v = this.pipeline({ ...node.pipe, decl: [] }, dot, scoped);
          const entries: [Value, Value][] = Array.isArray(v)
            ? v.map((x, i) => [i, x])
            : v && typeof v === 'object'
              ? Object.keys(v).sort().map((k) => [k, (v as Record<string, Value>)[k]])
              : typeof v === 'number'
                ? Array.from({ length: v }, (_x, i) => [i, i])
                : [];
          if (entries.length === 0) {
            this.run(node.else, dot, scoped, out);
            break;
          }
          for (const [k, x] of entries) {
            if (decl.length === 1) scoped.set(decl[0] as string, x);
            if (decl.length === 2) {
              scoped.set(decl[0] as string, k);
              scoped.set(decl[1] as string, x);
            }
            this.run(node.body, x, scoped, out);
          }
          break;
        }
      }
    }
  }

  private pipeline(pipe: Pipeline, dot: Value, vars: Map<string, Value>): Value {
    let result: Value;
    let first = true;
    for (const cmd of pipe.cmds) {
      const extra = first ? [] : [result];
      result = this.command(cmd, dot, vars, extra);
      first = false;
    }
    for (const name of pipe.decl) vars.set(name, result);
    return result;
  }

  private command(cmd: Operand[], dot: Value, vars: Map<string, Value>, piped: Value[]): Value {
    const head = cmd[0] as Operand;
    const args = (): Value[] => [...cmd.slice(1).map((o) => this.operand(o, dot, vars, [])), ...piped];
    if (head.kind === 'func') {
      const fn = this.funcs[head.name];
      if (!fn) throw new InvalidArgumentError(`template: function "${head.name}" not defined`);
      return fn(...args());
    }
    if (cmd.length === 1 && piped.length === 0) return this.operand(head, dot, vars, []);
    if (head.kind === 'field') return this.operand(head, dot, vars, args());
    throw new InvalidArgumentError(`template: can't give argument to non-function ${printValue((head as { value: Value }).value)}`);
  }

  private operand(op: Operand, dot: Value, vars: Map<string, Value>, args: Value[]): Value {
    switch (op.kind) {
      case 'literal':
        return op.value;
      case 'func': {
        const fn = this.funcs[op.name];
        if (!fn) throw new InvalidArgumentError(`template: function "${op.name}" not defined`);
        return fn();
      }
      case 'field': {
        let cur: Value;
        if (op.base === 'dot') cur = dot;
        else if ('var' in op.base) {
          if (op.base.var === '$') cur = this.root;
          else if (vars.has(op.base.var)) cur = vars.get(op.base.var);
          else throw new InvalidArgumentError(`template: undefined variable "${op.base.var}"`);
        } else cur = this.pipeline(op.base.sub, dot, vars);
        op.path.forEach((name, i) => {
          const last = i === op.path.length - 1;
          if (cur === null || cur === undefined) {
            throw new InvalidArgumentError(`template: nil pointer evaluating .${op.path.slice(0, i + 1).join('.')}`);
          }
          if (typeof cur !== 'object') {
            throw new InvalidArgumentError(`template: can't evaluate field ${name} in type ${typeof cur}`);
          }
          const next = (cur as Record<string, Value>)[name];
          cur = typeof next === 'function' ? (next as TemplateFunc)(...(last ? args : [])) : next;
        });
        return cur;
      }
    }
  }
}
