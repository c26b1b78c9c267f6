import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type Daemon, type DaemonOptions } from '../../src/index.js';
import { removeDaemonNetwork } from '@berth/fixtures';

export interface TestDaemon {
  daemon: Daemon;
  dir: string;
  socketPath: string;
  host: string;
  /** Environment for the docker CLI against this daemon (own config dir, no credential helpers). */
  dockerEnv: NodeJS.ProcessEnv;
  /** The daemon.json network settings it was started with (own bridge, bip, pool). */
  network: ReturnType<typeof isolatedNetworkConfig>;
  stop(): Promise<void>;
}

/**
 * A berthd in this process with its own temp root, run root, socket and docker config dir;
 * its own bridge and subnets unless `network` is given (to share another daemon's).
 */
export async function startTestDaemon(options: Omit<DaemonOptions, 'root' | 'runRoot'> = {}, network = isolatedNetworkConfig()): Promise<TestDaemon> {
  const dir = await mkdtemp(join(tmpdir(), 'berthd-test-'));
  const runRoot = join(dir, 'run');
  const socketPath = join(runRoot, 'berthd.sock');
  await writeFile(join(dir, 'daemon.json'), JSON.stringify(network) + '\n');
  const daemon = await startDaemon({
    root: join(dir, 'root'),
    runRoot,
    configFile: join(dir, 'daemon.json'),
    hosts: [`unix://${socketPath}`],
    ...options,
  }).catch(async (err: unknown) => {
    await removeDaemonNetwork(network.bridge, network.bip);
    await rm(dir, { recursive: true, force: true });
    throw err;
  });
  const host = `unix://${socketPath}`;
  return {
    daemon,
    dir,
    socketPath,
    host,
    network,
    dockerEnv: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, DOCKER_HOST: host, DOCKER_CONFIG: join(dir, 'docker-config'), DOCKER_CLI_HINTS: 'false' },
    async stop() {
      // berthd leaves containers running on purpose; a test must not.
      const left = await daemon.engine.containers.list({ all: true }).catch(() => []);
      for (const c of left) await daemon.engine.containers.remove(c.Id, { force: true, volumes: true }).catch(() => {});
      await daemon.close();
      await removeDaemonNetwork(network.bridge, network.bip);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Each test daemon gets its own bridge device and subnet, so test files (and other
 * helpers' tests) running at the same time never share a network.
 */
export function isolatedNetworkConfig(): { bridge: string; bip: string; 'network-pool': { base: string; prefixLen: number } } {
  const n = Math.floor(Math.random() * 0xffffff);
  return {
    bridge: `bt${n.toString(16).padStart(6, '0')}`,
    // Docker's form: the bridge address with its prefix
    bip: `10.${200 + (n % 50)}.${(n >> 8) % 256}.1/24`,
    // user networks (docker network create) from a /20 of their own too
    'network-pool': { base: `10.${250 + (n % 5)}.${((n >> 4) % 16) * 16}.0/20`, prefixLen: 24 },
  };
}
