import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isolatedNetworkConfig } from './support/daemon.js';
import { removeDaemonNetwork, seededRegistry, type SeededRegistry, buildBigImageLayout, pushLayoutWithSkopeo } from '@berth/fixtures';
import { spawnDaemon, type DaemonProcess } from './support/process.js';
import { docker, dockerOk } from './support/docker-cli.js';
import { EngineClient } from '@berth/engine-api';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// berthd killed with SIGKILL, and stopped with SIGTERM, while containers run: they keep
// running, and a restarted berthd lists them with the right states and exit codes.
describe('berthd restart', () => {
  let dir: string;
  let reg: SeededRegistry;
  let paths: { root: string; runRoot: string; socketPath: string; configFile: string };
  let env: NodeJS.ProcessEnv;
  let daemon: DaemonProcess | undefined;
  const network = isolatedNetworkConfig();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berthd-restart-'));
    paths = { root: join(dir, 'root'), runRoot: join(dir, 'run'), socketPath: join(dir, 'run', 'berthd.sock'), configFile: join(dir, 'daemon.json') };
    await writeFile(paths.configFile, JSON.stringify(network));
    env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, DOCKER_HOST: `unix://${paths.socketPath}`, DOCKER_CONFIG: join(dir, 'docker-config') };
    reg = await seededRegistry();
  });
  afterAll(async () => {
    if (daemon && daemon.child.exitCode === null && daemon.child.signalCode === null) {
      const ids = (await docker(env, ['ps', '-aq'])).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) await docker(env, ['rm', '-f', ...ids]);
      daemon.child.kill('SIGTERM');
      await daemon.exited;
    }
    await reg?.stop();
    await removeDaemonNetwork(network.bridge, network.bip);
    await rm(dir, { recursive: true, force: true });
  });

  it('survives kill -9 and SIGTERM with containers running', async () => {
    daemon = await spawnDaemon(paths);
    await dockerOk(env, ['pull', reg.busybox], { timeoutMs: 120_000 });
    await dockerOk(env, ['run', '-d', '--name', 'runner', reg.busybox, 'sleep', '300']);
    await dockerOk(env, ['run', '--name', 'quitter', reg.busybox, 'sh', '-c', 'exit 4']).catch(() => '');
    const pid = Number((await dockerOk(env, ['inspect', '-f', '{{.State.Pid}}', 'runner'])).trim());
    expect(alive(pid)).toBe(true);

    // SIGKILL: nothing cleaned up, the container must not care.
    daemon.child.kill('SIGKILL');
    expect((await daemon.exited).signal).toBe('SIGKILL');
    expect(alive(pid)).toBe(true);

    daemon = await spawnDaemon(paths);
    const ps = await dockerOk(env, ['ps', '-a', '--format', '{{.Names}} {{.State}} {{.Status}}']);
    expect(ps).toMatch(/^runner running Up/m);
    expect(ps).toMatch(/^quitter exited Exited \(4\)/m);
    expect(Number((await dockerOk(env, ['inspect', '-f', '{{.State.Pid}}', 'runner'])).trim())).toBe(pid);
    // The adopted container is fully usable.
    expect((await dockerOk(env, ['exec', 'runner', 'echo', 'still here'])).trim()).toBe('still here');

    // SIGTERM: graceful, leaves the container running, removes the socket and pid file.
    daemon.child.kill('SIGTERM');
    expect((await daemon.exited).code).toBe(0);
    expect(alive(pid)).toBe(true);
    await expect(stat(paths.socketPath)).rejects.toThrow(/ENOENT/);
    await expect(stat(join(paths.runRoot, 'berthd.pid'))).rejects.toThrow(/ENOENT/);

    daemon = await spawnDaemon(paths);
    expect((await dockerOk(env, ['inspect', '-f', '{{.State.Running}}', 'runner'])).trim()).toBe('true');
    await dockerOk(env, ['rm', '-f', 'runner', 'quitter']);
    expect(alive(pid)).toBe(false);
  });

  it('survives kill -9 in the middle of a pull; the pull is redone and the image is whole', async () => {
    const big = await buildBigImageLayout(undefined, { scale: 0.3 });
    const ref = `${reg.registry.host}/big:latest`;
    await pushLayoutWithSkopeo(big.layoutDir, 'latest', ref);
    daemon ??= await spawnDaemon(paths);
    const client = new EngineClient({ socketPath: paths.socketPath });
    const seen: string[] = [];
    const pulling = (async () => {
      for await (const m of client.imagePull(ref)) {
        seen.push(m.status ?? '');
        if (/Downloading|Extracting|Download complete|Pull complete/.test(m.status ?? '')) break;
      }
    })();
    await pulling;
    daemon.child.kill('SIGKILL');
    await daemon.exited;
    client.close();
    expect(seen.some((s) => /Downloading|Extracting|Download complete|Pull complete/.test(s))).toBe(true);

    daemon = await spawnDaemon(paths);
    // Whatever the crash left, the image is either absent or whole; pulling again completes it.
    const again = await dockerOk(env, ['pull', ref], { timeoutMs: 120_000 });
    expect(again).toMatch(/Status: (Downloaded newer image|Image is up to date) for /);
    const layers = JSON.parse(await dockerOk(env, ['image', 'inspect', '-f', '{{json .RootFS.Layers}}', ref]));
    expect(layers).toHaveLength(6);
    // Every layer is usable: a container's filesystem holds the last layer's files.
    const cid = (await dockerOk(env, ['create', ref, '/none'])).trim();
    const tar = await docker(env, ['export', cid]);
    expect(tar.code).toBe(0);
    expect(tar.stdout).toContain(big.special.opaqueDir.replace(/^\//, ''));
    await dockerOk(env, ['rm', cid]);
  });
});
