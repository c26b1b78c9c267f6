import { InvalidArgumentError } from '@berth/image-format';
import type { Isolation } from '@berth/runtime';

export type HostOs = 'linux' | 'windows';

/**
 * The daemon's isolation when a container asks for none or `default`: Linux has only
 * namespaces; Windows Server defaults to process isolation and client editions (Windows
 * 10/11) to Hyper-V, as dockerd's setDefaultIsolation does.
 */
export function defaultIsolation(host: HostOs, windowsServer = true): Isolation {
  if (host === 'linux') return 'default';
  return windowsServer ? 'process' : 'hyperv';
}

/**
 * HostConfig.Isolation as dockerd checks it at create: case-insensitive, `""` and
 * `default` everywhere, `process` and `hyperv` only on Windows. Returns the lower-cased
 * value, or undefined when none was asked for.
 */
export function parseIsolation(value: string | undefined, host: HostOs): Isolation | undefined {
  if (value === undefined || value === '') return undefined;
  const v = value.toLowerCase();
  if (v === 'default') return 'default';
  if (host === 'windows' && (v === 'process' || v === 'hyperv')) return v;
  const allowed = host === 'linux' ? "'default'" : "'default', 'process', or 'hyperv'";
  throw new InvalidArgumentError(`Invalid isolation: ${JSON.stringify(value)} - ${host} only supports ${allowed}`);
}
