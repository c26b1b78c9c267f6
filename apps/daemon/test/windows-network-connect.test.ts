import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBusyboxLayout, buildWindowsImage, pushLayoutWithSkopeo, pushWindowsImage, startRegistry, type BusyboxLayout, type RunningRegistry } from '@berth/fixtures';
import { HcsSimulator } from '@berth/hcs/simulator';
import type { FakeProgram } from '@berth/runtime/fake';
import { startTestDaemon, type TestDaemon } from './support/daemon.js';
import { docker, dockerOk } from './support/docker-cli.js';

const BOOT = 'C:\\Program Files\\Linux Containers';

const programs = (args: string[]): FakeProgram | undefined => {
  if (args[0] === 'idle')
    return async (p) => {
      for (;;) await p.sleep(0.05);
    };
  return undefined;
};

describe('docker network connect/disconnect of running Windows containers (over the HCS simulator)', () => {
  let t: TestDaemon;
  let reg: RunningRegistry;
  let sim: HcsSimulator;
  let bb: BusyboxLayout;
  const suffix = Math.random().toString(16).slice(2, 8);
  let win: string;
  let lin: string;

  beforeAll(async () => {
    const [img, r, b] = await Promise.all([buildWindowsImage(), startRegistry(), buildBusyboxLayout()]);
    reg = r;
    bb = b;
    win = `${reg.host}/berth/winconn-${suffix}:ltsc2022`;
    lin = `${reg.host}/berth/lcowconn-${suffix}:1`;
    await pushWindowsImage(reg.url, `berth/winconn-${suffix}`, 'ltsc2022', img);
    await pushLayoutWithSkopeo(bb.layoutDir, 'latest', lin);
    sim = new HcsSimulator({ onDisk: true, programs, hvsockChunk: 509 });
    sim.addLinuxBootFiles(BOOT);
    t = await startTestDaemon({ platform: { os: 'win32', productName: 'Windows Server 2022 Datacenter', hcs: sim, hvsock: sim.hvsock, linuxBootFiles: BOOT } });
    await dockerOk(t.dockerEnv, ['pull', win], { timeoutMs: 120_000 });
    await dockerOk(t.dockerEnv, ['pull', '--platform', 'linux', lin], { timeoutMs: 120_000 });
    await dockerOk(t.dockerEnv, ['network', 'create', `wc-${suffix}`]);
  }, 180_000);
  afterAll(async () => {
    await t?.stop();
    sim?.storage.removeHostDirs();
    await sim?.close();
    await reg?.stop();
  });

  for (const kind of ['process', 'hyperv', 'lcow'] as const) {
    it(`connect then disconnect a running ${kind} container`, async () => {
      const name = `wc-${kind}-${suffix}`;
      const args = kind === 'lcow' ? ['--platform', 'linux', lin, 'sleep', '60'] : ['--isolation', kind, win, 'idle'];
      await dockerOk(t.dockerEnv, ['run', '-d', '--name', name, ...args], { timeoutMs: 120_000 });
      const c = await docker(t.dockerEnv, ['network', 'connect', `wc-${suffix}`, name]);
      console.log(kind, 'connect', c);
      console.log(await docker(t.dockerEnv, ['inspect', '-f', '{{json .NetworkSettings.Networks}}', name]));
      const d = await docker(t.dockerEnv, ['network', 'disconnect', `wc-${suffix}`, name]);
      console.log(kind, 'disconnect', d);
      console.log(await docker(t.dockerEnv, ['inspect', '-f', '{{json .NetworkSettings.Networks}}', name]));
      console.log(sim.received.filter((r) => /Modify/.test(r.call)).slice(-6).map((r) => JSON.stringify(r)));
      await dockerOk(t.dockerEnv, ['rm', '-f', name], { timeoutMs: 60_000 });
    }, 180_000);
  }
});
