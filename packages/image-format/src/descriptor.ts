import type { Digest } from './digest.js';
import type { Platform } from './platform-types.js';

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
