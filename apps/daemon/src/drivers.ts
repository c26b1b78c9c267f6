import { join } from 'node:path';
import { CniNetworkManager, LinuxDriver } from '@berth/driver-linux';
import type { DriverContext, EngineDrivers } from '@berth/engine';

/**
 * berthd's drivers (the composition root): containers run by driver-linux's LinuxDriver
 * (crun or runc under conmon; state under the run root) on the CNI network manager
 * (state under the root), which the runtime driver asks for each container's namespace.
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
