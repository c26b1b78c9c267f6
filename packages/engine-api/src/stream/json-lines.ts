import { InvalidArgumentError } from '@berth/image-format';

/**
 * Parses a stream of concatenated JSON values (Docker writes one object per line,
 * but Go's json.Encoder does not promise line breaks, so this splits on newlines
 * and tolerates values that span chunks).
 */
export async function* readJsonLines<T = unknown>(source: AsyncIterable<Buffer | string>): AsyncGenerator<T> {
  let carry = '';
  for await (const chunk of source) {
    carry += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    let nl: number;
    while ((nl = carry.indexOf('\n')) >= 0) {
      const line = carry.slice(0, nl).trim();
      carry = carry.slice(nl + 1);
      if (line !== '') yield parseLine<T>(line);
    }
  }
  const rest = carry.trim();
  if (rest !== '') yield parseLine<T>(rest);
}

function parseLine<T>(line: string): T {
  try {
    return JSON.parse(line) as T;
  } catch (err) {
    throw new InvalidArgumentError(`invalid JSON in stream: ${line.slice(0, 200)}`, { cause: err });
  }
}

/** One JSON value as a stream line (what the server writes per message). */
export function jsonLine(value: unknown): string {
  return exactJson(value) + '\n';
}

/**
 * JSON.stringify, with a bigint written as the integer it is (unquoted), as Go writes a
 * uint64: a kernel counter past 2^53 (cgroup v1's "unlimited" 9223372036854771712) would
 * come out rounded through a double. (Node 20 has no JSON.rawJSON.)
 */
export function exactJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    // JSON.stringify refuses a bigint (and only then is there one to write)
    if (!(err instanceof TypeError) || !/BigInt/.test(err.message)) throw err;
  }
  // a tag no string of the value holds: it is not in the serialization without the bigints
  const without = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? 0 : v));
  let tag = 'bigint';
  while (without.includes(tag)) tag += '_';
  const text = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${tag}:${v.toString()}` : v));
  return text.replace(new RegExp(`"${tag}:(-?\\d+)"`, 'g'), '$1');
}
