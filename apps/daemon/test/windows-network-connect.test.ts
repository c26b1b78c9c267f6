import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBusyboxLayout, buildWindowsImage, pushLayoutWithSkopeo, pushWindowsImage, startRegistry, type BusyboxLayout, type RunningRegistry } from '@berth/fixtures';
import type { ModifySettingRequest } from '@berth/hcs';
import { HcsSimulator } from '@berth/hcs/simulator';
import type { FakeProgram } from '@berth/runtime/fake';
import { startTestDaemon, type TestDaemon } from './support/daemon.js';
import { docker, dockerOk } from './support/docker-cli.js';

// docker network connect/disconnect of running Windows containers on a berthd composed
// for a Windows Server 2022 host (over the HCS simulator), through the docker CLI: a
// process-isolated and a Hyper-V (WCOW) container get the endpoint added to (and removed
// from) their HCN namespace; an LCOW container's utility VM takes it as a hot-added
// network adapter the guest puts in the container's namespace (hcsshim AddEndpointsToNS),
// and gives it back guest first. What a real HNS, VM and GCS do with that only a Windows
// host shows.

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
    await dockerOk(t.dockerEnv, ['network', 'create', '--subnet', '10.81.0.0/24', `wc-${suffix}`]);
  }, 180_000);
  afterAll(async () => {
    await t?.stop();
    sim?.storage.removeHostDirs();
    await sim?.close();
    await reg?.stop();
  });

  for (const kind of ['process', 'hyperv', 'lcow'] as const) {
    it(`docker network connect/disconnect of a running ${kind} container`, async () => {
      const name = `wc-${kind}-${suffix}`;
      const net = `wc-${suffix}`;
      const args = kind === 'lcow' ? ['--platform', 'linux', lin, 'sleep', '60'] : ['--isolation', kind, win, 'idle'];
      const id = (await dockerOk(t.dockerEnv, ['run', '-d', '--name', name, ...args], { timeoutMs: 120_000 })).trim();
      const ip = `10.81.0.${kind === 'process' ? 11 : kind === 'hyperv' ? 12 : 13}`;
      const mark = sim.received.length;
      await dockerOk(t.dockerEnv, ['network', 'connect', '--ip', ip, '--alias', `${kind}-db`, net, name]);
      // docker inspect shows the new network's endpoint and address beside nat's
      const nets = JSON.parse(await dockerOk(t.dockerEnv, ['inspect', '-f', '{{json .NetworkSettings.Networks}}', name])) as Record<string, { IPAddress: string; IPPrefixLen: number; Gateway: string; EndpointID: string; MacAddress: string; Aliases: string[] | null }>;
      expect(Object.keys(nets).sort()).toEqual(['bridge', net].sort());
      expect(nets[net]).toMatchObject({ IPAddress: ip, IPPrefixLen: 24, Gateway: '10.81.0.1', EndpointID: expect.stringMatching(/^[0-9a-f]{64}$/), Aliases: [`${kind}-db`] });
      const shown = JSON.parse(await dockerOk(t.dockerEnv, ['network', 'inspect', '-f', '{{json .Containers}}', net])) as Record<string, { IPv4Address: string }>;
      expect(shown[id]).toMatchObject({ IPv4Address: `${ip}/24` });
      // HCN: the endpoint with that address, in the container's namespace
      const ep = [...sim.hcn.endpoints.values()].find((e) => e.IpConfigurations?.[0]?.IpAddress === ip)!;
      expect(ep).toBeDefined();
      const ns = [...sim.hcn.namespaces.entries()].find(([, n]) => n.endpoints.has(ep.ID))!;
      expect(ns[1].endpoints.size).toBe(2);
      const vmMods = () => sim.received.slice(mark).filter((r) => r.call === 'HcsModifyComputeSystem').map((r) => r.document as ModifySettingRequest);
      if (kind === 'lcow') {
        // the utility VM took the endpoint as a hot-added adapter; the guest put it in the container's namespace
        expect(vmMods().map((m) => [m.RequestType, m.ResourcePath!.replace(/[^/]+$/, '*'), m.Settings])).toEqual([['Add', 'VirtualMachine/Devices/NetworkAdapters/*', { EndpointId: ep.ID, MacAddress: ep.MacAddress }]]);
        expect(sim.guestOf(`${id}@uvm`)!.networkOf(id).map((a) => a.IPConfigs?.[0]?.IPAddress)).toEqual([expect.any(String), ip]);
      } else expect(vmMods()).toEqual([]);
      expect((await dockerOk(t.dockerEnv, ['inspect', '-f', '{{.State.Running}}', name])).trim()).toBe('true');

      // what dockerd refuses: the same network twice, a network the container is not on
      const twice = await docker(t.dockerEnv, ['network', 'connect', net, name]);
      expect([twice.code, twice.stderr]).toEqual([1, expect.stringContaining(`endpoint with name ${name} already exists in network ${net}`)]);

      const mark2 = sim.received.length;
      await dockerOk(t.dockerEnv, ['network', 'disconnect', net, name]);
      expect(Object.keys(JSON.parse(await dockerOk(t.dockerEnv, ['inspect', '-f', '{{json .NetworkSettings.Networks}}', name])) as object)).toEqual(['bridge']);
      expect(JSON.parse(await dockerOk(t.dockerEnv, ['network', 'inspect', '-f', '{{json .Containers}}', net]))).toEqual({});
      expect(sim.hcn.endpoints.has(ep.ID)).toBe(false);
      expect(ns[1].endpoints.size).toBe(1);
      if (kind === 'lcow') {
        const removed = sim.received.slice(mark2).filter((r) => r.call === 'HcsModifyComputeSystem').map((r) => r.document as ModifySettingRequest);
        expect(removed.map((m) => [m.RequestType, (m.Settings as { EndpointId: string }).EndpointId])).toEqual([['Remove', ep.ID]]);
        expect(sim.guestOf(`${id}@uvm`)!.networkOf(id)).toHaveLength(1);
      }
      const absent = await docker(t.dockerEnv, ['network', 'disconnect', net, name]);
      expect(absent.code).toBe(1);
      expect((await dockerOk(t.dockerEnv, ['inspect', '-f', '{{.State.Running}}', name])).trim()).toBe('true');

      // connected again, the container keeps the network across a restart
      await dockerOk(t.dockerEnv, ['network', 'connect', '--ip', ip, net, name]);
      await dockerOk(t.dockerEnv, ['restart', '-t', '1', name], { timeoutMs: 60_000 });
      const after = JSON.parse(await dockerOk(t.dockerEnv, ['inspect', '-f', '{{json .NetworkSettings.Networks}}', name])) as Record<string, { IPAddress: string }>;
      expect(after[net]?.IPAddress).toBe(ip);
      const again = [...sim.hcn.endpoints.values()].find((e) => e.IpConfigurations?.[0]?.IpAddress === ip)!;
      expect([...sim.hcn.namespaces.values()].find((n) => n.endpoints.has(again.ID))?.endpoints.size).toBe(2);
      if (kind === 'lcow') {
        // each run is a new runtime container (`<id>-<n>`), so a new utility VM: its guest holds the network from the start
        const run = [1, 2, 3].map((n) => `${id}-${n}`).find((r) => sim.guestOf(`${r}@uvm`))!;
        expect(sim.guestOf(`${run}@uvm`)!.networkOf(run).map((a) => a.IPConfigs?.[0]?.IPAddress)).toContain(ip);
      }
      await dockerOk(t.dockerEnv, ['rm', '-f', name], { timeoutMs: 60_000 });
      expect(sim.hcn.endpoints.has(again.ID)).toBe(false);
    }, 180_000);
  }
});
