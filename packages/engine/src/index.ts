/**
 * @berth/engine — composes image-format, layer-store, registry-client and the drivers
 * it is given (RuntimeDriver, NetworkDriver from @berth/runtime: berthd gives it
 * driver-linux's) into Docker's object model under one root. berthd's routes call these
 * services and serialise their Docker-shaped results as they are.
 */
export { Engine } from './engine.js';
export { NAMESPACE_LABEL } from './namespaces.js';
export type { EngineOptions, EngineConfig, EngineDrivers, DriverContext } from './config.js';
export type * from './services.js';
export type * from './docker-types.js';
export type { BuildService, BuildOptions, BuildResult } from './build/types.js';
export { parseDockerfile, DockerfileParseError, type Dockerfile, type Instruction } from './build/dockerfile.js';
export { BuildStepError } from './build/errors.js';
export type { Plugin } from './plugins/store.js';
export type { PluginConfig, PluginPrivilege, PluginSettings } from './plugins/config.js';
export { currentIsolationHost, defaultIsolation, isWindowsClient, type IsolationHost, type WindowsIsolationMode } from './drivers/isolation.js';
