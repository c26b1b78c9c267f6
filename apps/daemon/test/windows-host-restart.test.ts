import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWindowsImage, pushWindowsImage, removeDaemonNetwork, startRegistry, type RunningRegistry } from '@berth/fixtures';
import { HcsSimulator } from '@berth/hcs/simulator';
import type { FakeProgram } from '@berth/runtime/fake';
import { startDaemon, type Daemon } from '../src/index.js';
import { isolatedNetworkConfig } from './support/daemon.js';
import { docker, dockerOk } from './support/docker-cli.js';
import { request } from './support/http.js';

// A berthd composed for a Windows host (over the HCS simulator) restarted while its
// containers run: HCS keeps them (the simulator is the long-lived vmcompute service; each
// berthd is a client of it and only holds handles), and the new berthd takes them back
// through the docker CLI's eyes: running ones stay Up and can be stopped, waited for and
// read; one that ended while berthd was down shows its own exit code. So do their
// `docker exec` processes: still running with their pid, or ended with their exit code.

const programs = (args: string[]): FakeProgram | undefined => {
  if (args[0] === 'server')
    return async (p) => {
      // docker stop: CtrlShutdown, which the guest sees as SIGTERM
      p.trap(15, () => {
        p.stdout('bye\r\n');
        p.exit(7);
      });
      p.stdout('up\r\n');
      for (;;) await p.sleep(0.05);
    };
  if (args[0] === 'later')
    return async (p) => {
      p.stdout('soon\r\n');
      await p.sleep(1.5);
      p.stdout('late\r\n');
      return 4;
    };
  return undefined;
};

describe('berthd on a Windows host (over the HCS simulator) restarted with containers running', () => {
  let dir: string;
  let reg: RunningRegistry;
  let service: HcsSimulator;
  let daemon: Daemon | undefined;
  let env: NodeJS.ProcessEnv;
  let ref: string;
  const network = isolatedNetworkConfig();
  const socket = () => join(dir, 'run', 'berthd.sock');
  const execInspect = async (execId: string) => {
    const res = await request(socket(), 'GET', `/exec/${execId}/json`);
    expect(res.status).toBe(200);
    return JSON.parse(res.body.toString()) as { Running: boolean; ExitCode: number | null; Pid: number; ProcessConfig: { entrypoint: string; arguments: string[] } };
  };
  const start = async () => {
    const socket = join(dir, 'run', 'berthd.sock');
    env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(dir, 'docker-config'), DOCKER_CLI_HINTS: 'false' };
    // each berthd is a new client of the same service, as a restarted process is of vmcompute
    return startDaemon({ root: join(dir, 'root'), runRoot: join(dir, 'run'), configFile: join(dir, 'daemon.json'), hosts: [`unix://${socket}`], platform: { os: 'win32', productName: 'Windows Server 2022 Datacenter', hcs: service.connect() } });
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berthd-winrestart-'));
    await writeFile(join(dir, 'daemon.json'), JSON.stringify(network) + '\n');
    const img = await buildWindowsImage();
    reg = await startRegistry();
    const suffix = Math.random().toString(16).slice(2, 8);
    ref = `${reg.host}/berth/winrestart-${suffix}:ltsc2022`;
    await pushWindowsImage(reg.url, `berth/winrestart-${suffix}`, 'ltsc2022', img);
    service = new HcsSimulator({ onDisk: true, programs });
  }, 60_000);
  afterAll(async () => {
    if (daemon) {
      const ids = (await docker(env, ['ps', '-aq'])).stdout.split('\n').filter(Boolean);
      if (ids.length) await docker(env, ['rm', '-f', ...ids]);
      await daemon.close();
    }
    await service?.close();
    await reg?.stop();
    await removeDaemonNetwork(network.bridge, network.bip);
    await rm(dir, { recursive: true, force: true });
  });

  it('docker ps, logs, stop and wait work on the containers the berthd before started', async () => {
    daemon = await start();
    await dockerOk(env, ['pull', ref], { timeoutMs: 120_000 });
    await dockerOk(env, ['run', '-d', '--name', 'srv', ref, 'server']);
    await dockerOk(env, ['run', '-d', '--name', 'later', ref, 'later']);
    const id = (await dockerOk(env, ['inspect', '-f', '{{.Id}}', 'srv'])).trim();
    const pid = (await dockerOk(env, ['inspect', '-f', '{{.State.Pid}}', 'srv'])).trim();
    for (let i = 0; i < 100 && !(await docker(env, ['logs', 'srv'])).stdout.includes('up'); i++) await new Promise((r) => setTimeout(r, 50));
    // a detached exec that runs on, one that ends while no berthd runs
    await dockerOk(env, ['exec', '-d', 'srv', 'server']);
    await dockerOk(env, ['exec', '-d', 'srv', 'later']);
    const [spinId, laterId] = JSON.parse(await dockerOk(env, ['inspect', '-f', '{{json .ExecIDs}}', 'srv'])) as string[];
    const spinBefore = await execInspect(spinId!);
    expect(spinBefore).toMatchObject({ Running: true, ExitCode: null });
    expect(spinBefore.Pid).toBeGreaterThan(0);

    await daemon.close();
    daemon = undefined;
    expect(service.stateOf(id)).toBe('Running');
    // `later` ends while no berthd runs
    await new Promise((r) => setTimeout(r, 1800));

    daemon = await start();
    const ps = await dockerOk(env, ['ps', '-a', '--format', '{{.Names}} {{.State}} {{.Status}}']);
    expect(ps).toMatch(/^srv running Up/m);
    expect(ps).toMatch(/^later exited Exited \(4\)/m);
    expect((await dockerOk(env, ['inspect', '-f', '{{.State.Pid}}', 'srv'])).trim()).toBe(pid);
    expect((await docker(env, ['logs', 'later'])).stdout).toBe('soon\r\nlate\r\n');
    expect((await dockerOk(env, ['wait', 'later'])).trim()).toBe('4');
    // the execs came back with their container
    expect(JSON.parse(await dockerOk(env, ['inspect', '-f', '{{json .ExecIDs}}', 'srv'])).sort()).toEqual([spinId, laterId].sort());
    expect(await execInspect(spinId!)).toMatchObject({ Running: true, ExitCode: null, Pid: spinBefore.Pid, ProcessConfig: { entrypoint: 'server', arguments: [] } });
    expect(await execInspect(laterId!)).toMatchObject({ Running: false, ExitCode: 4 });

    await dockerOk(env, ['stop', 'srv'], { timeoutMs: 60_000 });
    expect((await dockerOk(env, ['wait', 'srv'])).trim()).toBe('7');
    // the container's end ended its exec (HCS terminates a stopped system's processes)
    for (let i = 0; i < 100 && (await execInspect(spinId!)).Running; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await execInspect(spinId!)).toMatchObject({ Running: false });
    expect((await docker(env, ['logs', 'srv'])).stdout).toBe('up\r\nbye\r\n');
    expect(await dockerOk(env, ['ps', '-a', '--format', '{{.Names}} {{.State}} {{.Status}}'])).toMatch(/^srv exited Exited \(7\)/m);

    // and started again by the new berthd
    await dockerOk(env, ['start', 'srv']);
    expect((await dockerOk(env, ['inspect', '-f', '{{.State.Running}}', 'srv'])).trim()).toBe('true');
    await dockerOk(env, ['rm', '-f', 'srv', 'later']);
    expect(service.stateOf(id)).toBeUndefined();
    expect(service.hcn.endpoints.size).toBe(0);
  }, 120_000);
});
