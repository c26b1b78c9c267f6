// `--filter k=v` flags, as every listing command takes them.
import { InvalidArgumentError } from '@berth/image-format';

/** Parses `--filter k=v` flags into the API's filters. */
export function parseFilters(flags: string[]): Record<string, string[]> {
  const filters: Record<string, string[]> = {};
  for (const f of flags) {
    const i = f.indexOf('=');
    if (i <= 0) throw new InvalidArgumentError(`bad format of filter (expected name=value)`);
    (filters[f.slice(0, i).trim().toLowerCase()] ??= []).push(f.slice(i + 1));
  }
  return filters;
}
