import { parseMountSpec } from './run-mounts.js';

type Kind = 'value' | 'bool' | 'list';

/** The flags each instruction takes (docker/dockerfile:1), and how. */
const FLAGS: Record<string, Record<string, Kind>> = {
  FROM: { platform: 'value' },
  RUN: { mount: 'list', network: 'value', security: 'value' },
  COPY: { from: 'value', chown: 'value', chmod: 'value', link: 'bool', parents: 'bool', exclude: 'list' },
  ADD: { chown: 'value', chmod: 'value', link: 'bool', checksum: 'value', exclude: 'list', 'keep-git-dir': 'bool' },
  HEALTHCHECK: { interval: 'value', timeout: 'value', 'start-period': 'value', 'start-interval': 'value', retries: 'value' },
};

const NETWORKS = new Set(['default', 'none', 'host']);

/**
 * Reads the `--flag[=value]` words at the start of an instruction's arguments. A value runs to
 * the first unquoted blank; quotes in it are removed (`--mount=type=bind,target="/a b"`).
 * Instructions that take no flags leave `--x` words to their arguments, as Docker does.
 */
export function readFlags(cmd: string, text: string): { flags: Record<string, string>; lists: Record<string, string[]>; rest: string } {
  const allowed = FLAGS[cmd];
  const flags: Record<string, string> = {};
  const lists: Record<string, string[]> = {};
  let rest = text;
  for (;;) {
    const m = /^--([a-zA-Z][a-zA-Z0-9-]*)/.exec(rest);
    if (!m) break;
    const name = m[1]!;
    if (!allowed && !['RUN', 'COPY', 'ADD', 'FROM'].includes(cmd)) break;
    const kind = allowed?.[name];
    if (!kind) throw new Error(`Unknown flag: ${name}`);
    let i = m[0].length;
    let value: string | undefined;
    if (rest[i] === '=') {
      i++;
      value = '';
      let quote: string | undefined;
      for (; i < rest.length; i++) {
        const c = rest[i]!;
        if (quote) {
          if (c === quote) quote = undefined;
          else value += c;
        } else if (c === '"' || c === "'") quote = c;
        else if (/\s/.test(c)) break;
        else value += c;
      }
      if (quote) throw new Error(`unterminated quote in flag --${name}`);
    } else if (i < rest.length && !/\s/.test(rest[i]!)) break;
    if (value === undefined) {
      if (kind !== 'bool') throw new Error(`Missing a value on flag: --${name}`);
      value = 'true';
    } else if (kind === 'bool' && !/^(true|false|1|0)$/i.test(value)) throw new Error(`invalid boolean value for --${name}: ${value}`);
    if (kind === 'bool') value = /^(true|1)$/i.test(value) ? 'true' : 'false';
    check(name, value, cmd);
    flags[name] = value;
    if (kind === 'list') (lists[name] ??= []).push(value);
    rest = rest.slice(i).replace(/^\s+/, '');
  }
  return { flags, lists, rest };
}

function check(name: string, value: string, cmd: string): void {
  if (cmd === 'RUN' && name === 'network' && !NETWORKS.has(value)) throw new Error(`unsupported network mode "${value}" (default, none, host)`);
  if (cmd === 'RUN' && name === 'security' && !['sandbox', 'insecure'].includes(value)) throw new Error(`unsupported security mode "${value}" (sandbox, insecure)`);
  if (cmd === 'RUN' && name === 'mount') parseMountSpec(value);
  if (name === 'chmod' && !/^[0-7]{3,4}$/.test(value) && !/\$/.test(value)) throw new Error(`invalid chmod parameter: ${value}: only octal modes are supported`);
  if (name === 'checksum' && !/^sha(256|384|512):[0-9a-f]+$/.test(value) && !/\$/.test(value)) throw new Error(`invalid checksum ${JSON.stringify(value)}: expected sha256:<hex>`);
}
