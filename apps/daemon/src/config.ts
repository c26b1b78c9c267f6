import { readFile } from 'node:fs/promises';
import { InvalidArgumentError } from '@berth/image-format';
import type { EngineConfig } from './engine-port.js';
import type { CriConfig } from './cri.js';

export const DEFAULT_CONFIG_FILE = '/etc/berth/daemon.json';

/** /etc/berth/daemon.json: the engine's settings plus the daemon's own (Docker's key names). */
export interface DaemonConfig extends EngineConfig {
  hosts?: string[];
  'data-root'?: string;
  'exec-root'?: string;
  'log-level'?: string;
  /** The Kubernetes CRI server (off unless it has an address). */
  cri?: CriConfig;
}

/** Reads the config file; a missing default file is an empty config, a missing explicit one an error. */
export async function readDaemonConfig(path: string, explicit: boolean): Promise<DaemonConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !explicit) return {};
    throw new InvalidArgumentError(`unable to read config file ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`unable to parse config file ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new InvalidArgumentError(`config file ${path} must hold a JSON object`);
  }
  return parsed as DaemonConfig;
}
