import { join } from 'node:path';
import { LinuxDriver } from './driver.js';
import { CniNetworkManager } from './network/index.js';

/** What a composition root knows when it makes the drivers (structurally the engine's DriverContext). */
export interface LinuxDriverContext {
  /** Persistent state: networks and their allocations live under `<root>/network`. */
  root: string;
  /** Runtime state: bundles and records under `<runRoot>/driver`, namespaces under `<runRoot>/netns`. */
  runRoot: string;
  /** Docker's `bridge` network. */
  defaultNetwork: { name: string; bridge: string; subnet: string; gateway: string };
  /** daemon.json's settings for these drivers. */
  config: {
    /** Where user networks take their subnets from. */
    'network-pool'?: { base: string; prefixLen: number };
    /** Upstream nameservers of the embedded DNS. */
    dns?: string[];
    /** `crun` (default), `runc` or a path. */
    runtime?: string;
  };
}

/**
 * The Linux drivers as a composition root wires them: containers run by a LinuxDriver
 * on a CNI network manager that the runtime driver asks for each container's namespace.
 */
export function linuxDriverSet({ root, runRoot, defaultNetwork, config }: LinuxDriverContext): { runtimes: { linux: LinuxDriver }; network: CniNetworkManager } {
  const network = new CniNetworkManager({
    stateDir: join(root, 'network'),
    netnsDir: join(runRoot, 'netns'),
    defaultNetwork,
    ...(config['network-pool'] ? { subnetPool: config['network-pool'] } : {}),
    ...(config.dns?.length ? { dns: { upstreams: config.dns } } : {}),
  });
  const linux = new LinuxDriver({ stateDir: join(runRoot, 'driver'), ...(config.runtime ? { runtime: config.runtime } : {}), network });
  return { runtimes: { linux }, network };
}
