import type { EventEmitter } from 'node:events';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RuntimeEvent } from '@berth/runtime';
import { detectCgroups, type CgroupMounts } from '../cgroups/layout.js';
import { swapLimitSupported } from '../cgroups/stats.js';
import { ATTACH_BRIDGE_SOURCE } from '../conmon/attach-bridge.js';
import type { ContainerLogs } from '../conmon/container-logs.js';
import { findExecutable, prepareRuntime, type OciRuntime } from '../oci/runtime.js';
import { capabilitiesFromMask } from '../security/capabilities.js';
import { SeccompFilterCache } from '../security/seccomp-cache.js';
import type { LinuxDriverOptions } from './options.js';
import type { ContainerRecords } from './records.js';

/** Where the driver keeps its state, all under the state dir. */
export interface DriverDirs {
  stateDir: string;
  containersDir: string;
  /** conmon writes each container's exit code here, in a file named by the id. */
  exitDir: string;
  /** conmon's attach sockets and ctl fifos. */
  socketDir: string;
}

export function driverDirs(stateDir: string): DriverDirs {
  return {
    stateDir,
    containersDir: join(stateDir, 'containers'),
    exitDir: join(stateDir, 'exits'),
    socketDir: join(stateDir, 'socks'),
  };
}

/** What the driver learns of the host once, before its first container. */
interface HostFacts {
  runtime: OciRuntime;
  conmonPath: string;
  cgroups: CgroupMounts;
  swapSupported: boolean;
  hostNofileHard?: number;
  hostCapabilities?: string[];
  /** The perl script that bridges a client's stdin to conmon's attach socket. */
  bridgeScript: string;
  seccompCache?: SeccompFilterCache;
}

/** Everything the driver's parts share: its options, dirs, host facts, records and events. */
export interface DriverContext extends DriverDirs, HostFacts {
  options: LinuxDriverOptions;
  records: ContainerRecords;
  /** Reads and follows the containers' logs; watches the size of those with limits. */
  logs: ContainerLogs;
  /** Carries `event` (RuntimeEvent) and `exit-file` (a file name in exitDir appeared or changed). */
  emitter: EventEmitter;
  emit(type: RuntimeEvent['type'], id: string, exitCode?: number): void;
}

/** Makes the state dirs and finds the runtime, conmon, cgroups and limits of this host. */
export async function prepareHost(options: LinuxDriverOptions, dirs: DriverDirs): Promise<HostFacts> {
  // 0711: a user-namespaced container's root (a mapped uid) must reach its bundle files
  await mkdir(dirs.stateDir, { recursive: true, mode: 0o711 });
  await chmod(dirs.stateDir, 0o711);
  await mkdir(dirs.containersDir, { recursive: true, mode: 0o711 });
  await chmod(dirs.containersDir, 0o711);
  for (const d of [dirs.exitDir, dirs.socketDir]) await mkdir(d, { recursive: true, mode: 0o700 });
  const status = await readFile('/proc/self/status', 'utf8');
  const bnd = /^CapBnd:\s+([0-9a-f]+)/m.exec(status)?.[1];
  const hostCapabilities = bnd ? capabilitiesFromMask(BigInt(`0x${bnd}`)) : undefined;
  const cgroups = await detectCgroups();
  const runtime = await prepareRuntime(dirs.stateDir, options.runtime ?? 'crun', cgroups);
  const conmonPath = await findExecutable(options.conmonPath ?? 'conmon');
  const seccompCache = await SeccompFilterCache.forRuntime(dirs.stateDir, runtime.name, runtime.binary);
  const swapSupported = await swapLimitSupported(cgroups);
  const bridgeScript = join(dirs.stateDir, 'attach-bridge.pl');
  await writeFile(bridgeScript, ATTACH_BRIDGE_SOURCE, { mode: 0o600 });
  const limits = await readFile('/proc/self/limits', 'utf8').catch(() => '');
  const m = /^Max open files\s+(\d+)\s+(\d+|unlimited)/m.exec(limits);
  return {
    runtime,
    conmonPath,
    cgroups,
    swapSupported,
    ...(m && m[2] !== 'unlimited' ? { hostNofileHard: Number(m[2]) } : {}),
    ...(hostCapabilities ? { hostCapabilities } : {}),
    bridgeScript,
    seccompCache,
  };
}
