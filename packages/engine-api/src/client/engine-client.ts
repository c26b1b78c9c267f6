// EngineClient is one class made of the connection and the calls by resource, each in its
// own file; the interface below gives the class their types and applyCalls their methods.
import { EngineConnection } from './connection.js';
import { SystemCalls } from './system.js';
import { ContainerCalls } from './containers.js';
import { ExecCalls } from './exec.js';
import { ImageCalls } from './images.js';
import { BuildCalls } from './build.js';
import { VolumeCalls } from './volumes.js';
import { NetworkCalls } from './networks.js';

export { MULTIPLEXED_STREAM, RAW_STREAM, type EngineClientOptions, type HijackedStream, type PingResult } from './connection.js';
export type { EventsOptions } from './system.js';
export type { ContainerListOptions, LogsOptions, AttachOptions, ContainerPathStat } from './containers.js';
export type { ImageBuildOptions } from './build.js';

export interface EngineClient extends SystemCalls, ContainerCalls, ExecCalls, ImageCalls, BuildCalls, VolumeCalls, NetworkCalls {}

/**
 * A typed Docker Engine API client for berthd (and dockerd) over a unix socket or tcp.
 * Negotiates the API version on first use (GET /_ping, Api-Version header) and keeps
 * connections alive between calls. Every error response becomes a BerthError subclass
 * (NotFoundError for 404, ConflictError for 409, ...) with `statusCode` set.
 */
export class EngineClient extends EngineConnection {}

applyCalls(EngineClient, [SystemCalls, ContainerCalls, ExecCalls, ImageCalls, BuildCalls, VolumeCalls, NetworkCalls]);

/** Copies each resource's methods onto the client (TypeScript's documented mixin pattern). */
function applyCalls(target: typeof EngineConnection, sources: (typeof EngineConnection)[]): void {
  for (const source of sources) {
    for (const [name, descriptor] of Object.entries(Object.getOwnPropertyDescriptors(source.prototype))) {
      if (name === 'constructor') continue;
      if (Object.hasOwn(target.prototype, name)) throw new Error(`EngineClient: ${name} is defined twice`);
      Object.defineProperty(target.prototype, name, descriptor);
    }
  }
}
