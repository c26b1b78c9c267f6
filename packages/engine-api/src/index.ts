/**
 * @berth/engine-api: the Docker Engine API as Berth speaks it (API 1.50, down to 1.24).
 * Types and JSON schemas of the request and response bodies, Docker's stream formats
 * (multiplexed stdout/stderr frames, JSON progress lines), and EngineClient, a typed
 * client over a unix socket or tcp.
 */
export { API_VERSION, MIN_API_VERSION, compareApiVersions } from './version.js';

export type * from './types/common.js';
export type * from './types/container.js';
export type * from './types/image.js';
export type * from './types/system.js';
export type * from './types/volume.js';
export type * from './types/network.js';

export * as schemas from './schemas/index.js';
export type { JsonSchema } from './schemas/json-schema.js';

export {
  StreamType,
  FRAME_HEADER_SIZE,
  encodeFrame,
  createMuxer,
  FrameDecoder,
  readFrames,
  demultiplexStream,
  type Frame,
} from './stream/multiplex.js';
export { readJsonLines, jsonLine, exactJson } from './stream/json-lines.js';
export { readFirstChunk } from './stream/first-chunk.js';
export { DEFAULT_DETACH_KEYS, DetachKeyWatcher, parseDetachKeys } from './stream/detach-keys.js';

export {
  EngineClient,
  MULTIPLEXED_STREAM,
  RAW_STREAM,
  type EngineClientOptions,
  type HijackedStream,
  type PingResult,
  type ContainerListOptions,
  type LogsOptions,
  type AttachOptions,
  type EventsOptions,
  type ContainerPathStat,
  type ImageBuildOptions,
} from './client/engine-client.js';
export {
  BUILD_SECRETS_HEADER,
  BUILD_SECRETS_ID_HEADER,
  BUILD_SECRETS_HEADER_MAX,
  MAX_BUILD_SECRET_SIZE,
  MAX_BUILD_SECRETS_TOTAL,
  checkBuildSecrets,
  encodeBuildSecrets,
  decodeBuildSecrets,
  secretsFromJson,
  secretsToJson,
} from './client/build-secrets.js';
export {
  parseHost, hostFromEnv, defaultHost, isNamedPipePath, DEFAULT_HOST, DEFAULT_SOCKET_PATH, DEFAULT_PIPE_PATH, DEFAULT_WINDOWS_HOST,
  DEFAULT_TCP_PORT, type EngineTarget,
} from './client/host.js';
export { encodeQuery, type Query, type QueryValue } from './client/query.js';
export { containerListQuery } from './client/containers.js';
export { errorFromResponse, statusForError, type ApiError } from './client/errors.js';
export { DockerIgnore, patternRegExp } from './build/dockerignore.js';
export { ConnectionError, isResponseCut } from './client/transport.js';
export { humanDuration } from './format/human-duration.js';
