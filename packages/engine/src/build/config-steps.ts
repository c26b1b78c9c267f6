import { InvalidArgumentError, type ContainerConfig, type HealthConfig } from '@berth/image-format';
import type { Instruction } from './dockerfile.js';
import { WordExpander, splitRawWords } from './words.js';

export const DEFAULT_SHELL = ['/bin/sh', '-c'];
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** `k=v` pairs of ENV/LABEL (or the legacy `ENV k v...` form), quotes removed, variables expanded. */
export function keyValues(ins: Instruction, ex: WordExpander, escape: string): [string, string][] {
  const text = ins.args[0] ?? '';
  const raw = splitRawWords(text, escape);
  if (raw.length > 0 && !raw[0]!.includes('=')) {
    const key = ex.word(raw[0]!);
    const rest = text.trimStart().slice(raw[0]!.length).trim();
    return [[key, ex.word(rest)]];
  }
  return raw.map((w) => {
    const i = w.indexOf('=');
    return [ex.word(w.slice(0, i)), ex.word(w.slice(i + 1))];
  });
}

/** Sets `name=value` in an env list, keeping its position. */
export function setEnv(env: string[], name: string, value: string): string[] {
  const out = env.filter((e) => !e.startsWith(name + '='));
  const i = env.findIndex((e) => e.startsWith(name + '='));
  if (i >= 0) out.splice(i, 0, `${name}=${value}`);
  else out.push(`${name}=${value}`);
  return out;
}

export function envLookup(env: string[] | undefined, name: string): string | undefined {
  const hit = (env ?? []).find((e) => e.startsWith(name + '='));
  return hit === undefined ? undefined : hit.slice(name.length + 1);
}

/** CMD/ENTRYPOINT/RUN argv: exec form as given, shell form through the stage's SHELL. */
export function commandArgv(ins: Instruction, shell: string[] | undefined): string[] {
  return ins.json ? ins.args : [...(shell?.length ? shell : DEFAULT_SHELL), ins.args[0] ?? ''];
}

/** `EXPOSE 80 8080/udp 9000-9001` as ExposedPorts keys. */
export function exposedPorts(words: string[]): string[] {
  const out: string[] = [];
  for (const w of words) {
    const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(w);
    if (!m) throw new InvalidArgumentError(`Invalid containerPort: ${w}`);
    const from = Number(m[1]);
    const to = m[2] ? Number(m[2]) : from;
    const proto = (m[3] ?? 'tcp').toLowerCase();
    for (let p = from; p <= to; p++) out.push(`${p}/${proto}`);
  }
  return out;
}

/** Go duration (`30s`, `1m30s`, `500ms`) in nanoseconds. */
export function goDuration(text: string, flag: string): number {
  const units: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  let total = 0;
  let rest = text;
  if (rest === '0') return 0;
  while (rest.length) {
    const m = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/.exec(rest);
    if (!m) throw new InvalidArgumentError(`time: invalid duration "${text}" for --${flag}`);
    total += Number(m[1]) * units[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return Math.round(total);
}

/** HEALTHCHECK [flags] CMD ... | NONE. */
export function healthcheck(ins: Instruction, shell: string[] | undefined): HealthConfig {
  const rest = (ins.args[0] ?? '').trim();
  if (/^NONE$/i.test(rest)) return { Test: ['NONE'] };
  const cmdText = rest.replace(/^CMD\s+/i, '');
  let test: string[];
  try {
    const parsed = JSON.parse(cmdText) as unknown;
    test = Array.isArray(parsed) && parsed.every((x) => typeof x === 'string') ? ['CMD', ...(parsed as string[])] : ['CMD-SHELL', cmdText];
  } catch {
    test = ['CMD-SHELL', cmdText];
  }
  void shell;
  const hc: HealthConfig = { Test: test };
  const f = ins.flags;
  if (f['interval']) hc.Interval = goDuration(f['interval'], 'interval');
  if (f['timeout']) hc.Timeout = goDuration(f['timeout'], 'timeout');
  if (f['start-period']) hc.StartPeriod = goDuration(f['start-period'], 'start-period');
  if (f['start-interval']) hc.StartInterval = goDuration(f['start-interval'], 'start-interval');
  if (f['retries']) {
    const n = Number(f['retries']);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`invalid value for --retries: ${f['retries']}`);
    hc.Retries = n;
  }
  return hc;
}

/** A copy of an image's container config that steps may change. */
export function cloneConfig(c: ContainerConfig | undefined): ContainerConfig {
  return JSON.parse(JSON.stringify(c ?? {})) as ContainerConfig;
}
