import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type Daemon } from '@berth/daemon';
import { removeDaemonNetwork } from '@berth/fixtures';

export interface TestDaemon {
  daemon: Daemon;
  dir: string;
  socketPath: string;
  host: string;
  /** Environment for the docker CLI against this daemon (own config dir, no hints). */
  dockerEnv: NodeJS.ProcessEnv;
  /** Environment for berth (own credential store). */
  berthEnv: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

/** A real berthd in this process: its own temp root, run root, socket, bridge and subnet. */
export async function startTestDaemon(): Promise<TestDaemon> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-cli-test-'));
  const runRoot = join(dir, 'run');
  const socketPath = join(runRoot, 'berthd.sock');
  const n = Math.floor(Math.random() * 0xffffff);
  const net = { bridge: `bc${n.toString(16).padStart(6, '0')}`, bip: `10.${150 + (n % 40)}.${(n >> 8) % 256}.0/24` };
  await writeFile(join(dir, 'daemon.json'), `${JSON.stringify(net)}\n`);
  const daemon = await startDaemon({
    root: join(dir, 'root'),
    runRoot,
    configFile: join(dir, 'daemon.json'),
    hosts: [`unix://${socketPath}`],
    logLevel: 'fatal',
  }).catch(async (err: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw err;
  });
  const host = `unix://${socketPath}`;
  const base = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, TZ: 'UTC' };
  return {
    daemon,
    dir,
    socketPath,
    host,
    dockerEnv: { ...base, DOCKER_HOST: host, DOCKER_CONFIG: join(dir, 'docker-config'), DOCKER_CLI_HINTS: 'false' },
    berthEnv: { ...base, BERTH_HOST: host, BERTH_CONFIG: join(dir, 'berth-config') },
    async stop() {
      await daemon.close();
      await removeDaemonNetwork(net.bridge, net.bip);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
