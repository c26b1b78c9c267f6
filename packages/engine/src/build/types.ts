import type { Readable } from 'node:stream';
import type { ProgressMessage, RegistryAuth } from '../docker-types.js';

export interface BuildOptions {
  /** Path of the Dockerfile inside the context (default `Dockerfile`). */
  dockerfile?: string;
  /** `name[:tag]` references given to the result. */
  tags?: string[];
  /** `--build-arg`s; null takes the value from... nowhere here (Docker: the client's env), so it is unset. */
  buildArgs?: Record<string, string | null>;
  /** Labels added to the result (as a final `LABEL` step). */
  labels?: Record<string, string>;
  /** Build up to this stage (name or index). */
  target?: string;
  /** Run every step, ignoring the build cache. */
  noCache?: boolean;
  /** Remove a step's container once it succeeded (default true). */
  rm?: boolean;
  /** Remove step containers even when they failed. */
  forceRm?: boolean;
  /** Only the result's ID is reported. */
  quiet?: boolean;
  /** Pull the FROM images even when present. */
  pull?: boolean;
  /** Network of RUN containers (`default`/`bridge`, `none`, `host`, a network name). */
  networkMode?: string;
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
