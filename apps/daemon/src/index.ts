/**
 * berthd as a library: `startDaemon` runs the Docker Engine API over @berth/engine on
 * unix sockets and loopback tcp (tests start it in-process; `berthd` is main.ts).
 */
export { startDaemon, DEFAULT_ROOT, DEFAULT_RUN_ROOT, type Daemon, type DaemonOptions } from './daemon.js';
export type { DaemonConfig } from './config.js';
export type { EngineLike } from './engine-port.js';
export { BERTH_VERSION } from './version.js';
