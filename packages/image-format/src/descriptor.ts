import type { Digest } from './digest.js';
import type { Platform } from './platform-types.js';
import { createHash } from 'node:crypto';
import { parseDigest } from './digest.js';
import { validatePlatform } from './platform-types.js';
import { array, digest, fail, integer, mediaType, object, optMediaType, optStringMap, string } from './validate.js';

/** An OCI content descriptor: what a blob is, its digest and size. */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  data?: string;
  platform?: Platform;
  artifactType?: string;
}

/** Validates a descriptor; errors name the field, e.g. `manifest.layers[2].digest`. */
export function validateDescriptor(value: unknown, path = 'descriptor'): Descriptor {
  const o = object(value, path);
  mediaType(o.mediaType, `${path}.mediaType`);
  const d = digest(o.digest, `${path}.digest`);
  const size = integer(o.size, `${path}.size`, 0);
  if (o.urls !== undefined) array(o.urls, `${path}.urls`, string);
  optStringMap(o.annotations, `${path}.annotations`);
  if (o.platform !== undefined) validatePlatform(o.platform, `${path}.platform`);
  optMediaType(o.artifactType, `${path}.artifactType`);
  if (o.data !== undefined) {
    const data = string(o.data, `${path}.data`);
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(data) || data.length % 4 !== 0) fail(`${path}.data`, 'must be base64');
    const bytes = Buffer.from(data, 'base64');
    if (bytes.length !== size) fail(`${path}.data`, `decodes to ${bytes.length} bytes but size is ${size}`);
    const { algorithm, hex } = parseDigest(d);
    if (createHash(algorithm).update(bytes).digest('hex') !== hex) fail(`${path}.data`, `does not match digest ${d}`);
  }
  return o as unknown as Descriptor;
}

/** The OCI empty descriptor (`{}`), used as the config of artifacts without one. */
export const EMPTY_DESCRIPTOR: Readonly<Descriptor> = Object.freeze({
  mediaType: 'application/vnd.oci.empty.v1+json',
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
  data: 'e30=',
});
