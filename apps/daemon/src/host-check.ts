// berthd refuses to start without the host programs its driver runs, and says in one line
// which are missing and which Debian packages bring them (a missing conmon or CNI plugin
// would otherwise surface at the first `run`, as an error from deep inside a start).
import { describeMissingPrograms, missingHostPrograms } from '@berth/driver-linux';
import type { DaemonConfig } from './config.js';

/** The message to exit with, or undefined when everything is there. */
export async function checkHostPrograms(config: Pick<DaemonConfig, 'runtime'>): Promise<string | undefined> {
  const missing = await missingHostPrograms(config.runtime ? { runtime: config.runtime } : {});
  return missing.length === 0 ? undefined : describeMissingPrograms(missing);
}
