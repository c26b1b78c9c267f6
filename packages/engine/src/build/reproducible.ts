import { InvalidArgumentError } from '@berth/image-format';
import type { PlannedEntry } from './copy-plan.js';

/**
 * The `SOURCE_DATE_EPOCH` build arg (seconds since 1970, as reproducible-builds.org defines
 * it), or undefined when not given.
 */
export function sourceDateEpoch(value: string | null | undefined): Date | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`invalid SOURCE_DATE_EPOCH: ${JSON.stringify(value)} (seconds since 1970)`);
  return new Date(Number(value) * 1000);
}

/** BuildKit's clamp: a time later than the epoch becomes the epoch; earlier times stay. */
export function clampTimes(entries: PlannedEntry[], epoch: Date): void {
  for (const e of entries) if (e.mtime.getTime() > epoch.getTime()) e.mtime = epoch;
}

/** A step's `created` as image configs hold it: now, or the epoch in whole seconds as BuildKit writes it. */
export function createdTime(epoch: Date | undefined): string {
  return epoch ? epoch.toISOString().replace(/\.\d+Z$/, 'Z') : new Date().toISOString();
}
