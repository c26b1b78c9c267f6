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
  return JSON.stringify(value) + '\n';
}
