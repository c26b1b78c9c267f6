import { InvalidArgumentError } from '@berth/image-format';
import { splitRawWords } from './words.js';
import { checkSyntaxDirective, parseCheckDirective, type CheckDirective } from './directives.js';
import { heredocWords, readHeredocBodies, type Heredoc } from './heredoc.js';
import { readFlags } from './instruction-flags.js';

/** One Dockerfile instruction, continuations joined; arguments are expanded when it runs. */
export interface Instruction {
  /** Upper-case keyword (`RUN`, `COPY`, ...). */
  cmd: string;
  /** `--name=value` options given before the arguments (the last one given; `true` for a bare boolean flag). */
  flags: Record<string, string>;
  /** Every value of each flag, in order (`--mount` and `--exclude` may repeat). */
  flagLists?: Record<string, string[]>;
  /** RUN/COPY/ADD here-documents, in the order their `<<NAME` words appear. */
  heredocs?: Heredoc[];
  /** Exec form (a JSON string array) was used. */
  json: boolean;
  /** Exec form: the array; shell form: the argument text as one element (raw, unexpanded). */
  args: string[];
  /** 1-based line of the keyword. */
  line: number;
  /** The instruction as written, continuations joined (for history and cache keys). */
  original: string;
}

export interface Dockerfile {
  escape: string;
  /** The `# syntax=` directive, when given (always the built-in frontend's). */
  syntax?: string;
  check?: CheckDirective;
  instructions: Instruction[];
}

/** Docker's (20.10) parse error: `dockerfile parse error line 3: unknown instruction: FOO`. */
export class DockerfileParseError extends InvalidArgumentError {
  constructor(
    readonly line: number,
    reason: string,
  ) {
    super(`dockerfile parse error line ${line}: ${reason}`);
  }
}

/** Instructions whose arguments may be a JSON array (exec form). */
const JSON_FORM = new Set(['RUN', 'CMD', 'ENTRYPOINT', 'SHELL', 'COPY', 'ADD', 'VOLUME']);

/** Instructions whose shell form may carry here-documents. */
const HEREDOC_FORM = new Set(['RUN', 'COPY', 'ADD']);

const KNOWN = new Set([
  'FROM', 'RUN', 'CMD', 'ENTRYPOINT', 'ENV', 'ARG', 'LABEL', 'EXPOSE', 'USER', 'WORKDIR', 'VOLUME',
  'COPY', 'ADD', 'SHELL', 'STOPSIGNAL', 'HEALTHCHECK', 'ONBUILD', 'MAINTAINER',
]);

/** Parses Dockerfile text: directives (`# escape=`), comments, continuations, flags, exec/shell forms. */
export function parseDockerfile(text: string): Dockerfile {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let escape = '\\';
  let syntax: string | undefined;
  let check: CheckDirective | undefined;
  let i = 0;
  // Parser directives: `# key=value` lines at the very top, before any comment, blank or instruction.
  for (const seen = new Set<string>(); i < lines.length; i++) {
    const m = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/.exec(lines[i]!);
    if (!m) break;
    const key = m[1]!.toLowerCase();
    if (seen.has(key)) throw new DockerfileParseError(i + 1, `only one ${key} parser directive can be used`);
    seen.add(key);
    if (key === 'escape') {
      if (m[2] !== '\\' && m[2] !== '`') throw new DockerfileParseError(i + 1, `invalid escape token '${m[2]}' does not match ${'`'} or \\`);
      escape = m[2]!;
    } else if (key === 'syntax') {
      syntax = m[2]!;
      checkSyntaxDirective(syntax);
    } else if (key === 'check') {
      try {
        check = parseCheckDirective(m[2]!);
      } catch (err) {
        throw new DockerfileParseError(i + 1, (err as Error).message);
      }
    }
  }
  const instructions: Instruction[] = [];
  while (i < lines.length) {
    const raw = lines[i]!;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) {
      i++;
      continue;
    }
    const start = i + 1;
    let joined = '';
    let line = raw;
    for (;;) {
      const body = line.replace(/\s+$/, '');
      if (body.endsWith(escape) && !body.endsWith(escape + escape)) {
        joined += body.slice(0, -1);
        i++;
        // Comment lines inside a continuation are dropped; a blank one is allowed (Docker warns).
        while (i < lines.length && (lines[i]!.trim().startsWith('#') || lines[i]!.trim() === '')) i++;
        if (i >= lines.length) break;
        line = lines[i]!;
        continue;
      }
      joined += line;
      i++;
      break;
    }
    const ins = parseInstruction(joined.trim(), start, escape);
    if (HEREDOC_FORM.has(ins.cmd) && !ins.json) {
      const docs = heredocWords(ins.args[0] ?? '', escape);
      if (docs.length > 0) {
        const read = readHeredocBodies(lines, i, docs);
        if ('missing' in read) throw new DockerfileParseError(start, `unterminated heredoc: no line ${JSON.stringify(read.missing)} closes it`);
        ins.heredocs = read.heredocs;
        i = read.next;
      }
    }
    instructions.push(ins);
  }
  return { escape, instructions, ...(syntax !== undefined ? { syntax } : {}), ...(check ? { check } : {}) };
}

function parseInstruction(text: string, line: number, escape: string): Instruction {
  const m = /^(\S+)\s*([\s\S]*)$/.exec(text)!;
  const cmd = m[1]!.toUpperCase();
  let rest = m[2]!;
  if (!KNOWN.has(cmd)) throw new DockerfileParseError(line, `unknown instruction: ${m[1]!.toUpperCase()}`);
  let flags: Record<string, string>;
  let flagLists: Record<string, string[]>;
  try {
    ({ flags, lists: flagLists, rest } = readFlags(cmd, rest));
  } catch (err) {
    throw new DockerfileParseError(line, (err as Error).message);
  }
  rest = rest.trim();
  let json = false;
  let args: string[] = [rest];
  if (JSON_FORM.has(cmd) && rest.startsWith('[')) {
    try {
      const parsed = JSON.parse(rest) as unknown;
      if (Array.isArray(parsed) && parsed.every((x) => typeof x === 'string')) {
        json = true;
        args = parsed as string[];
      }
    } catch {
      // not JSON: shell form, as Docker falls back
    }
  }
  const ins: Instruction = { cmd, flags, json, args, line, original: text, ...(Object.keys(flagLists).length ? { flagLists } : {}) };
  validate(ins, rest, escape);
  return ins;
}

/** Parse-time checks Docker makes, with its messages. */
function validate(ins: Instruction, rest: string, escape: string): void {
  const fail = (reason: string): never => {
    throw new DockerfileParseError(ins.line, reason);
  };
  const need = (n: number): void => {
    if (rest === '' || (ins.json && ins.args.length < n)) fail(`${ins.cmd} requires at least ${n === 1 ? 'one argument' : `${n} arguments`}`);
  };
  switch (ins.cmd) {
    case 'FROM': {
      const w = splitRawWords(rest, escape);
      if (w.length !== 1 && !(w.length === 3 && w[1]!.toLowerCase() === 'as')) fail('FROM requires either one or three arguments');
      if (w.length === 3 && !/^[a-zA-Z][a-zA-Z0-9_.-]*$/.test(w[2]!)) fail(`invalid name for build stage: "${w[2]}", name can't start with a number or contain symbols`);
      break;
    }
    case 'ENV':
    case 'LABEL': {
      need(1);
      const w = splitRawWords(rest, escape);
      if (!w[0]!.includes('=')) {
        if (ins.cmd === 'ENV' && w.length < 2) fail('ENV must have two arguments');
        if (ins.cmd === 'LABEL' && w.length < 2) fail('LABEL must have two arguments');
      } else {
        for (const word of w) {
          if (!word.includes('=')) fail(`Syntax error - can't find = in "${word}". Must be of the form: name=value`);
          if (word.startsWith('=')) fail(`${ins.cmd} names can not be blank`);
        }
      }
      break;
    }
    case 'ARG': {
      // docker/dockerfile:1 declares several at once (`ARG A B=1`)
      need(1);
      break;
    }
    case 'COPY':
    case 'ADD':
      if (ins.json ? ins.args.length < 2 : splitRawWords(rest, escape).length < 2) fail(`${ins.cmd} requires at least two arguments, but only ${ins.json ? ins.args.length : splitRawWords(rest, escape).length} provided`);
      break;
    case 'SHELL':
      if (!ins.json) fail('SHELL requires the arguments to be in JSON form');
      if (ins.args.length === 0) fail('SHELL requires at least one argument');
      break;
    case 'USER':
    case 'WORKDIR':
    case 'STOPSIGNAL':
    case 'MAINTAINER':
      if (rest === '') fail(`${ins.cmd} requires exactly one argument`);
      break;
    case 'RUN':
    case 'EXPOSE':
    case 'VOLUME':
      need(1);
      break;
    case 'ONBUILD': {
      need(1);
      const trigger = /^\S+/.exec(rest)![0].toUpperCase();
      if (trigger === 'ONBUILD') fail('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
      if (trigger === 'FROM' || trigger === 'MAINTAINER') fail(`${trigger} isn't allowed as an ONBUILD trigger`);
      if (!KNOWN.has(trigger)) fail(`unknown instruction: ${trigger}`);
      break;
    }
    case 'HEALTHCHECK': {
      need(1);
      const kind = /^\S+/.exec(rest)![0].toUpperCase();
      if (kind === 'NONE') {
        if (rest.trim().toUpperCase() !== 'NONE') fail('HEALTHCHECK NONE takes no arguments');
      } else if (kind !== 'CMD') fail(`Unknown type "${kind}" in HEALTHCHECK (try CMD)`);
      else if (rest.slice(3).trim() === '') fail('Missing command after HEALTHCHECK CMD');
      break;
    }
    default:
      break;
  }
}
