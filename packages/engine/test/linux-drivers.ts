import { join } from 'node:path';
import { CniNetworkManager, LinuxDriver } from '@berth/driver-linux';
import type { DriverContext, EngineDrivers } from '../src/index.js';

/**
 * The engine tests' drivers, made as berthd's composition root (apps/daemon/src/drivers.ts)
 * makes them: driver-linux's LinuxDriver on its CNI network manager.
 */
export function linuxDrivers({ root, runRoot, config, defaultNetwork }: DriverContext): EngineDrivers {
  const network = new CniNetworkManager({
    stateDir: join(root, 'network'),
    netnsDir: join(runRoot, 'netns'),
    defaultNetwork,
    ...(config['network-pool'] ? { subnetPool: config['network-pool'] } : {}),
    ...(config.dns?.length ? { dns: { upstreams: config.dns } } : {}),
  });
  const linux = new LinuxDriver({
    stateDir: join(runRoot, 'driver'),
    ...(config.runtime ? { runtime: config.runtime } : {}),
    network,
  });
  return { runtimes: { linux }, network };
}
