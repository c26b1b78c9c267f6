/**
 * @berth/engine — composes image-format, layer-store, registry-client, runtime and
 * driver-linux into Docker's object model under one root. berthd's routes call these
 * services and serialise their Docker-shaped results as they are.
 */
export { Engine } from './engine.js';
export type { EngineOptions, EngineConfig } from './config.js';
export type * from './services.js';
export type * from './docker-types.js';
export type { BuildService, BuildOptions, BuildResult } from './build/types.js';
export { parseDockerfile, DockerfileParseError, type Dockerfile, type Instruction } from './build/dockerfile.js';
export { BuildStepError } from './build/errors.js';
export type { Plugin } from './plugins/store.js';
export type { PluginConfig, PluginPrivilege, PluginSettings } from './plugins/config.js';
