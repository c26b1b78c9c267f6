import type { Digest } from './digest.js';
import {
  array, boolean, digest, fail, object, optArray, optEmptyObjectMap, optInteger, optString, optStringMap,
  parseJsonBytes, string,
} from './validate.js';

export const MAX_CONFIG_SIZE = 8 * 1024 * 1024;

/** Durations are nanoseconds, as Docker writes them. */
export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** The execution parameters of an image (`config` in an image config). */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  ArgsEscaped?: boolean;
  Healthcheck?: HealthConfig;
  OnBuild?: string[];
  Shell?: string[];
}

export interface RootFs {
  type: 'layers';
  diff_ids: Digest[];
}

export interface History {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** An OCI image config / Docker container image config. Unknown fields are kept. */
export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  config?: ContainerConfig;
  rootfs: RootFs;
  history?: History[];
}

function timestamp(value: unknown, path: string): void {
  if (value === undefined) return;
  const s = string(value, path);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(s)) fail(path, `"${s}" is not an RFC 3339 time`);
}

function validateHealthcheck(value: unknown, path: string): void {
  const o = object(value, path);
  optArray(o.Test, `${path}.Test`, string);
  for (const f of ['Interval', 'Timeout', 'StartPeriod', 'StartInterval'] as const) optInteger(o[f], `${path}.${f}`, 0);
  optInteger(o.Retries, `${path}.Retries`, 0);
}

function validateContainerConfig(value: unknown, path: string): void {
  const o = object(value, path);
  for (const f of ['User', 'WorkingDir', 'StopSignal'] as const) optString(o[f], `${path}.${f}`);
  for (const f of ['Env', 'Entrypoint', 'Cmd', 'OnBuild', 'Shell'] as const) optArray(o[f], `${path}.${f}`, string);
  optEmptyObjectMap(o.ExposedPorts, `${path}.ExposedPorts`);
  optEmptyObjectMap(o.Volumes, `${path}.Volumes`);
  optStringMap(o.Labels, `${path}.Labels`);
  if (o.ArgsEscaped !== undefined) boolean(o.ArgsEscaped, `${path}.ArgsEscaped`);
  if (o.Healthcheck !== undefined && o.Healthcheck !== null) validateHealthcheck(o.Healthcheck, `${path}.Healthcheck`);
}

/** Validates a parsed image config; errors name the field, e.g. `config.rootfs.diff_ids[1]`. */
export function validateImageConfig(value: unknown, path = 'config'): ImageConfig {
  const o = object(value, path);
  timestamp(o.created, `${path}.created`);
  optString(o.author, `${path}.author`);
  string(o.architecture, `${path}.architecture`);
  string(o.os, `${path}.os`);
  optString(o['os.version'], `${path}["os.version"]`);
  optArray(o['os.features'], `${path}["os.features"]`, string);
  optString(o.variant, `${path}.variant`);
  if (o.config !== undefined && o.config !== null) validateContainerConfig(o.config, `${path}.config`);
  const rootfs = object(o.rootfs, `${path}.rootfs`);
  if (rootfs.type !== 'layers') fail(`${path}.rootfs.type`, `must be "layers", got ${JSON.stringify(rootfs.type)}`);
  array(rootfs.diff_ids, `${path}.rootfs.diff_ids`, digest);
  optArray(o.history, `${path}.history`, (h, p) => {
    const e = object(h, p);
    timestamp(e.created, `${p}.created`);
    for (const f of ['created_by', 'author', 'comment'] as const) optString(e[f], `${p}.${f}`);
    if (e.empty_layer !== undefined) boolean(e.empty_layer, `${p}.empty_layer`);
  });
  return o as unknown as ImageConfig;
}

/** Parses and validates image config bytes (malformed JSON and oversize input are errors). */
export function parseImageConfig(bytes: Uint8Array | string): ImageConfig {
  return validateImageConfig(parseJsonBytes(bytes, 'config', MAX_CONFIG_SIZE));
}
