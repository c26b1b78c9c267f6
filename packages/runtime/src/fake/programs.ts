import { createHash } from 'node:crypto';
import { ProcessExit, type FakeProcess } from './process.js';

/** A simulated program: runs against its process and returns the exit code. */
export type FakeProgram = (p: FakeProcess) => Promise<number>;

/** Where a command's output goes (the process' streams, a `>&2`, or a `$(...)` capture). */
interface Io {
  out(b: Buffer | string): void;
  err(b: Buffer | string): void;
}

type Builtin = (p: FakeProcess, args: string[], io: Io) => Promise<number>;

/** printf's escapes (`\n`, `\\`, `\ooo`) and `%s`/`%d`/`%%` directives, over bytes. */
function printf(format: string, args: string[]): Buffer {
  const out: number[] = [];
  let a = 0;
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!;
    if (c === '\\' && i + 1 < format.length) {
      const n = format[i + 1]!;
      const oct = /^[0-7]{1,3}/.exec(format.slice(i + 1))?.[0];
      if (oct) {
        out.push(parseInt(oct, 8) & 0xff);
        i += oct.length;
      } else {
        out.push(...Buffer.from(({ n: '\n', t: '\t', r: '\r', '\\': '\\' } as Record<string, string>)[n] ?? `\\${n}`));
        i++;
      }
    } else if (c === '%' && i + 1 < format.length) {
      const d = format[++i]!;
      out.push(...Buffer.from(d === '%' ? '%' : (args[a++] ?? (d === 'd' ? '0' : ''))));
    } else {
      out.push(...Buffer.from(c));
    }
  }
  return Buffer.from(out);
}

function fileOf(p: FakeProcess, path: string): Buffer | undefined {
  if (path === '/proc/1/cmdline') return Buffer.from(p.initArgs.map((x) => `${x}\0`).join(''));
  return p.readFile(path);
}

const BUILTINS: Record<string, Builtin> = {
  true: async () => 0,
  false: async () => 1,
  echo: async (_p, args, io) => {
    const noNl = args[0] === '-n';
    io.out(`${(noNl ? args.slice(1) : args).join(' ')}${noNl ? '' : '\n'}`);
    return 0;
  },
  printf: async (_p, args, io) => {
    io.out(printf(args[0] ?? '', args.slice(1)));
    return 0;
  },
  sleep: async (p, args) => {
    await p.sleep(Number(args[0] ?? 0));
    return 0;
  },
  exit: async (_p, args) => {
    throw new ProcessExit(Number(args[0] ?? 0));
  },
  cat: async (p, args, io) => {
    if (args.length === 0) {
      for (let c = await p.read(); c !== undefined; c = await p.read()) io.out(c);
      return 0;
    }
    let code = 0;
    for (const f of args) {
      const data = fileOf(p, f);
      if (data) io.out(data);
      else {
        io.err(`cat: can't open '${f}': No such file or directory\n`);
        code = 1;
      }
    }
    return code;
  },
  sha256sum: async (p, args, io) => {
    const data = fileOf(p, args[0] ?? '');
    if (!data) return 1;
    io.out(`${createHash('sha256').update(data).digest('hex')}  ${args[0]}\n`);
    return 0;
  },
  pwd: async (p, _args, io) => {
    io.out(`${p.cwd}\n`);
    return 0;
  },
  id: async (p, args, io) => {
    io.out(args[0] === '-u' ? `${p.uid}\n` : args[0] === '-g' ? `${p.gid}\n` : `uid=${p.uid} gid=${p.gid}\n`);
    return 0;
  },
  stty: async (p, args, io) => {
    const size = p.terminalSize();
    if (!p.tty || !size) {
      io.err('stty: standard input: Not a tty\n');
      return 1;
    }
    if (args[0] === 'size') io.out(`${size.height} ${size.width}\n`);
    return 0;
  },
  env: async (p, _args, io) => {
    io.out(p.env.map((e) => `${e}\n`).join(''));
    return 0;
  },
  sh: async (p, args, io) => {
    if (args[0] !== '-c' || args[1] === undefined) {
      io.err('sh: only `sh -c SCRIPT` is simulated\n');
      return 2;
    }
    return runScript(p, args[1], io);
  },
};

/** Splits at `sep` outside quotes and `$(...)`. */
function splitTop(s: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '$' && s[i + 1] === '(') depth++;
    else if (c === ')' && depth > 0) depth--;
    else if (c === sep && depth === 0) {
      parts.push(cur);
      cur = '';
      continue;
    }
    cur += c;
  }
  parts.push(cur);
  return parts.map((x) => x.trim()).filter((x) => x !== '');
}

/** Words of one simple command: quotes, `$VAR`, `${VAR}` and `$(command)` expanded. */
async function words(p: FakeProcess, cmd: string): Promise<string[]> {
  const out: string[] = [];
  let cur: string | undefined;
  const expand = async (i: number): Promise<[string, number]> => {
    if (cmd[i + 1] === '(') {
      let depth = 1;
      let j = i + 2;
      for (; j < cmd.length && depth > 0; j++) depth += cmd[j] === '(' ? 1 : cmd[j] === ')' ? -1 : 0;
      const chunks: Buffer[] = [];
      await runScript(p, cmd.slice(i + 2, j - 1), { out: (b) => chunks.push(Buffer.from(b)), err: () => undefined });
      return [Buffer.concat(chunks).toString().replace(/\n+$/, ''), j];
    }
    const m = /^\$(?:\{(\w+)\}|(\w+))/.exec(cmd.slice(i));
    if (!m) return ['$', i + 1];
    return [p.getenv(m[1] ?? m[2]!) ?? '', i + m[0].length];
  };
  for (let i = 0; i < cmd.length; ) {
    const c = cmd[i]!;
    if (c === ' ' || c === '\t') {
      if (cur !== undefined) out.push(cur);
      cur = undefined;
      i++;
    } else if (c === "'") {
      const end = cmd.indexOf("'", i + 1);
      cur = (cur ?? '') + cmd.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      cur = cur ?? '';
      i++;
      while (i < cmd.length && cmd[i] !== '"') {
        if (cmd[i] === '$') {
          const [v, next] = await expand(i);
          cur += v;
          i = next;
        } else if (cmd[i] === '\\' && ['"', '\\', '$'].includes(cmd[i + 1] ?? '')) {
          cur += cmd[i + 1];
          i += 2;
        } else cur += cmd[i++];
      }
      i++;
    } else if (c === '$') {
      const [v, next] = await expand(i);
      cur = (cur ?? '') + v;
      i = next;
    } else {
      cur = (cur ?? '') + c;
      i++;
    }
  }
  if (cur !== undefined) out.push(cur);
  return out;
}

/**
 * A small `sh -c`: commands separated by `;`, each a builtin with quotes, variables,
 * `$(...)` and a `>&2` redirect. Loops, traps, tests and pipes are not simulated:
 * give such a script as a program of its own (FakeDriverOptions.programs).
 */
async function runScript(p: FakeProcess, script: string, io: Io): Promise<number> {
  const unquoted = script.replace(/'[^']*'|"(?:\\.|[^"\\])*"/g, '""');
  if (/\b(while|for|if|trap|read)\b|\[|&&|\|/.test(unquoted)) {
    io.err(`sh: script not simulated: ${script}\n`);
    return 127;
  }
  let code = 0;
  for (const cmd of splitTop(script, ';')) {
    let text = cmd;
    let cio = io;
    if (/\s*>&2$/.test(text)) {
      text = text.replace(/\s*>&2$/, '');
      cio = { out: io.err, err: io.err };
    }
    code = await runArgs(p, await words(p, text), cio);
  }
  return code;
}

async function runArgs(p: FakeProcess, args: string[], io: Io): Promise<number> {
  const name = (args[0] ?? '').replace(/^.*\//, '');
  const b = BUILTINS[name];
  if (!b) {
    io.err(`sh: ${args[0]}: not found\n`);
    return 127;
  }
  return b(p, args.slice(1), io);
}

/** The simulated command for an argv: busybox-like builtins, `sh -c` of simple scripts. */
export function builtinProgram(args: string[]): FakeProgram | undefined {
  const name = (args[0] ?? '').replace(/^.*\//, '');
  if (!BUILTINS[name]) return undefined;
  return (p) => runArgs(p, args, { out: (b) => p.stdout(b), err: (b) => p.stderr(b) });
}
