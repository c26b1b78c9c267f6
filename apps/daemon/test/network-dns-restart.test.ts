import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isolatedNetworkConfig } from './support/daemon.js';
import { removeDaemonNetwork, seededRegistry, type SeededRegistry } from '@berth/fixtures';
import { spawnDaemon, type DaemonProcess } from './support/process.js';
import { docker, dockerOk } from './support/docker-cli.js';

// berthd killed while containers on a user network run: the restarted berthd serves
// their names again (the embedded DNS lives in berthd, the containers outlive it).
describe('berthd restart: the embedded DNS comes back for running containers', () => {
  let dir: string;
  let reg: SeededRegistry;
  let paths: { root: string; runRoot: string; socketPath: string; configFile: string };
  let env: NodeJS.ProcessEnv;
  let daemon: DaemonProcess | undefined;
  const network = isolatedNetworkConfig();
  const suffix = Math.random().toString(16).slice(2, 8);
  const net = `dnsr-${suffix}`;
  const bridge = `bd${suffix}`;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berthd-dnsrestart-'));
    paths = { root: join(dir, 'root'), runRoot: join(dir, 'run'), socketPath: join(dir, 'run', 'berthd.sock'), configFile: join(dir, 'daemon.json') };
    await writeFile(paths.configFile, JSON.stringify(network));
    env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, DOCKER_HOST: `unix://${paths.socketPath}`, DOCKER_CONFIG: join(dir, 'docker-config') };
    reg = await seededRegistry();
  });
  afterAll(async () => {
    if (daemon && daemon.child.exitCode === null && daemon.child.signalCode === null) {
      const ids = (await docker(env, ['ps', '-aq'])).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) await docker(env, ['rm', '-f', ...ids]);
      await docker(env, ['network', 'rm', net]);
      daemon.child.kill('SIGTERM');
      await daemon.exited;
    }
    await reg?.stop();
    await removeDaemonNetwork(network.bridge, network.bip);
    await rm(dir, { recursive: true, force: true });
  });

  it('resolves names after kill -9 and a restart', async () => {
    daemon = await spawnDaemon(paths);
    await dockerOk(env, ['pull', reg.busybox], { timeoutMs: 120_000 });
    await dockerOk(env, ['network', 'create', '-o', `com.docker.network.bridge.name=${bridge}`, net]);
    await dockerOk(env, ['run', '-d', '--name', 'asker', '--network', net, reg.busybox, 'sleep', '300']);
    await dockerOk(env, ['run', '-d', '--name', 'target', '--network', net, '--network-alias', 'tgt', reg.busybox, 'sleep', '300']);
    const ip = (await dockerOk(env, ['inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, 'target'])).trim();
    expect((await dockerOk(env, ['exec', 'asker', 'nslookup', 'tgt']))).toContain(ip);

    daemon.child.kill('SIGKILL');
    await daemon.exited;
    daemon = await spawnDaemon(paths);
    const r = await docker(env, ['exec', 'asker', 'nslookup', 'tgt'], { timeoutMs: 20_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(ip);
    const ping = await docker(env, ['exec', 'asker', 'ping', '-c1', '-W2', 'target'], { timeoutMs: 20_000 });
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
  });
});
