import { join } from 'node:path';
import { DEFAULT_HOST, defaultHost } from '@berth/engine-api';

/**
 * Where berthd listens when neither --host nor daemon.json `hosts` says: on Windows the
 * named pipe `//./pipe/berth_engine` (as dockerd on `docker_engine`, whatever its
 * exec-root); elsewhere the unix socket, under a run root given explicitly.
 */
export function defaultListenHost(opts: { platform?: NodeJS.Platform; runRoot?: string | undefined } = {}): string {
  const platform = opts.platform ?? process.platform;
  if (platform === 'win32') return defaultHost(platform);
  return opts.runRoot ? `unix://${join(opts.runRoot, 'berthd.sock')}` : DEFAULT_HOST;
}
