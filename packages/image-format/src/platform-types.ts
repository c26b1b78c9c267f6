import { array, object, optArray, optString, string } from './validate.js';

/** An OCI platform as written in an index or image config. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
  features?: string[];
}

/** Validates a platform object; errors name `path.field`. */
export function validatePlatform(value: unknown, path = 'platform'): Platform {
  const o = object(value, path);
  string(o.os, `${path}.os`);
  string(o.architecture, `${path}.architecture`);
  optString(o.variant, `${path}.variant`);
  optString(o['os.version'], `${path}["os.version"]`);
  optArray(o['os.features'], `${path}["os.features"]`, string);
  if (o.features !== undefined) array(o.features, `${path}.features`, string);
  return o as unknown as Platform;
}
