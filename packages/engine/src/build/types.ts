import type { Readable } from 'node:stream';
import type { ImageBuildOptions } from '@berth/engine-api';
import type { ProgressMessage, RegistryAuth } from '../docker-types.js';

/** What `POST /build` asks for; credentials as the engine takes them. */
export interface BuildOptions extends Omit<ImageBuildOptions, 'registryConfig'> {
  /** Credentials by registry (`127.0.0.1:5000`, `https://index.docker.io/v1/`) for pulling FROM images. */
  auth?: Record<string, RegistryAuth>;
  /** Docker's JSON build stream: `{stream}` lines, pull progress, `{aux:{ID}}`. */
  onProgress?: (msg: ProgressMessage) => void;
  signal?: AbortSignal;
}

export interface BuildResult {
  /** Image ID (`sha256:...`). */
  id: string;
  /** The familiar tags given (`app:latest`). */
  tags: string[];
}

/**
 * Docker's classic builder (`POST /build`): the context is a tar stream (plain or gzip)
 * holding the Dockerfile; each instruction makes an image, RUN in a container from the
 * previous one, COPY/ADD as a layer written straight from the context. Steps are cached by
 * (parent image, instruction, content hash of COPY sources).
 */
export interface BuildService {
  build(context: Readable, opts?: BuildOptions): Promise<BuildResult>;
  /** Forgets the build cache (step images stay until pruned as dangling images). */
  pruneCache(): Promise<{ CachesDeleted: string[]; SpaceReclaimed: number }>;
}
