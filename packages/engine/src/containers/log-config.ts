import { InvalidArgumentError, UnsupportedError } from '@berth/image-format';
import type { HostConfig } from '../docker-types.js';
import type { ContainerRecord } from './record.js';

/**
 * Docker's logging drivers. Berth keeps every container's output in the driver's log
 * (attach and restarts need it) and reports it as json-file, Docker's default, which
 * clients such as docker-py expect before they read output back. Other names are
 * accepted as Docker does and read the same way (Docker 20.10's dual logging); `none`
 * refuses reading with Docker's error.
 */
const KNOWN_DRIVERS = new Set(['json-file', 'local', 'journald', 'syslog', 'gelf', 'fluentd', 'awslogs', 'splunk', 'etwlogs', 'gcplogs', 'logentries', 'none']);

export const DEFAULT_LOG_DRIVER = 'json-file';

/** HostConfig.LogConfig as inspect shows it. */
export function logConfigOf(h: HostConfig): { Type: string; Config: Record<string, string> } {
  return { Type: h.LogConfig?.Type || DEFAULT_LOG_DRIVER, Config: h.LogConfig?.Config ?? {} };
}

/** Refuses a driver Docker would not find (at create, as Docker does). */
export function validateLogConfig(h: HostConfig | undefined): void {
  const type = h?.LogConfig?.Type;
  if (type && !KNOWN_DRIVERS.has(type)) throw new InvalidArgumentError(`error looking up logging plugin ${type}: plugin "${type}" not found`);
}

/** `docker logs` of a container whose driver keeps nothing to read. */
export function assertLogsReadable(r: ContainerRecord): void {
  if (r.hostConfig.LogConfig?.Type === 'none') throw new UnsupportedError('configured logging driver does not support reading');
}

/** The run's log limits: the container's --log-opt max-size/max-file, else the daemon's log-opts. */
export function logLimitsOf(r: ContainerRecord, daemon: { maxSize: number; maxFiles: number } | undefined): { logLimits?: { maxSize: number; maxFiles: number } } {
  const opts = r.hostConfig.LogConfig?.Config ?? {};
  const size = opts['max-size'];
  if (size === undefined || size === '') return daemon ? { logLimits: daemon } : {};
  if (size === '-1') return {};
  return { logLimits: { maxSize: parseSize(size), maxFiles: Math.max(1, Number(opts['max-file'] ?? 1) || 1) } };
}

/** Docker's `max-size` (`10m`, `512k`, `1g`, bytes). */
export function parseSize(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)b?$/i.exec(v.trim());
  if (!m) throw new InvalidArgumentError(`invalid max-size: ${v}`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.floor(Number(m[1]) * unit);
}
