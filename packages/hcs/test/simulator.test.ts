/*
 * The simulator keeps HCS's rules: schema-validated documents, the compute system state
 * machine, HCS_E_* results, image/host compatibility, hosted systems only where HCS has a
 * guest connection. Documents come from the package's own builders.
 */
import type { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import type { ContainerSpec } from '@berth/runtime';
import {
  endpointDocument,
  hostedComputeSystem,
  hostedContainerDocument,
  initProcessParameters,
  isHcsError,
  namespaceAddEndpoint,
  namespaceDocument,
  natNetwork,
  processContainerDocument,
  processParameters,
  scsiAttachRequest,
  vsmbGuestPath,
  vsmbShareRequest,
  wcowUvmDocument,
  type HcsError,
  type Layer,
  type LayerData,
} from '../src/index.js';
import { HcsSimulator } from '../src/simulator/index.js';

const BASE = 'C:\\berth\\layers\\base';
const TOP = 'C:\\berth\\layers\\top';
// a mounted scratch has a temp directory behind it, which close() removes
const mounted = new Set<HcsSimulator>();
afterAll(async () => {
  for (const sim of mounted) await sim.close();
});

function read(s: Readable | null): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    s!.on('data', (c: Buffer) => chunks.push(c));
    s!.on('end', () => resolve(Buffer.concat(chunks).toString()));
    s!.on('error', reject);
  });
}

async function rejection(p: Promise<unknown>): Promise<HcsError> {
  try {
    await p;
  } catch (e) {
    if (isHcsError(e)) return e;
    throw e;
  }
  throw new Error('resolved, expected an HcsError');
}

async function layers(sim: HcsSimulator, baseVersion = '10.0.20348.2340'): Promise<LayerData> {
  sim.addBaseLayer(BASE, { osVersion: baseVersion });
  const base: Layer = { Id: await sim.layerId('base'), Path: BASE };
  await sim.importLayer(TOP, 'C:\\tmp\\unpacked', { SchemaVersion: { Major: 2, Minor: 1 }, Layers: [base] });
  return { SchemaVersion: { Major: 2, Minor: 1 }, Layers: [{ Id: await sim.layerId('top'), Path: TOP }, base] };
}

function spec(extra: Partial<ContainerSpec> = {}): ContainerSpec {
  return { id: 'c1', hostname: 'c1', rootfs: { layers: [TOP, BASE] }, process: { args: ['sh', '-c', 'echo out; echo err >&2; exit 3'] }, ...extra };
}

async function processContainer(sim: HcsSimulator, id = 'c1', baseVersion?: string) {
  const data = await layers(sim, baseVersion);
  const scratch = `C:\\berth\\scratch\\${id}`;
  await sim.initializeWritableLayer(scratch, data);
  mounted.add(sim);
  const volume = await sim.mountWritableLayer(scratch, data);
  return processContainerDocument({ spec: spec({ id }), layers: data.Layers, scratchPath: volume, hostProcessors: 4 });
}

describe('HcsSimulator: process-isolated containers', () => {
  it('runs the documented sequence: create, start, process with pipes, exit code, statistics, shutdown, close', async () => {
    const sim = new HcsSimulator();
    const sys = await sim.createComputeSystem('c1', await processContainer(sim));
    expect(sim.stateOf('c1')).toBe('Created');
    await sim.startComputeSystem(sys);
    const p = await sim.createProcess(sys, initProcessParameters(spec()));
    const [out, err, status] = await Promise.all([read(p.stdout), read(p.stderr), sim.waitForProcessExit(p)]);
    expect({ out, err, code: status.ExitCode, exited: status.Exited }).toEqual({ out: 'out\n', err: 'err\n', code: 3, exited: true });
    const props = await sim.getComputeSystemProperties(sys, { PropertyTypes: ['Statistics', 'ProcessList'] });
    expect(props.State).toBe('Running');
    expect(props.Statistics?.Memory?.MemoryUsageCommitBytes).toBeGreaterThan(0);
    await sim.shutDownComputeSystem(sys);
    expect((await rejection(sim.shutDownComputeSystem(sys))).code).toBe('HCS_E_SYSTEM_ALREADY_STOPPED');
    expect((await rejection(sim.startComputeSystem(sys))).code).toBe('HCS_E_SYSTEM_ALREADY_STOPPED');
    await sim.closeComputeSystem(sys);
    expect(sim.stateOf('c1')).toBeUndefined();
    expect((await rejection(sim.openComputeSystem('c1'))).code).toBe('HCS_E_SYSTEM_NOT_FOUND');
  });

  it('refuses what HCS refuses: a duplicate id, a second start, a bad document, foreign layers, the wrong image build', async () => {
    const sim = new HcsSimulator();
    const doc = await processContainer(sim);
    const sys = await sim.createComputeSystem('c1', doc);
    expect((await rejection(sim.createComputeSystem('c1', doc))).code).toBe('HCS_E_SYSTEM_ALREADY_EXISTS');
    await sim.startComputeSystem(sys);
    expect((await rejection(sim.startComputeSystem(sys))).code).toBe('HCS_E_INVALID_STATE');
    const bad = structuredClone(doc) as any;
    bad.Container.Networking = { AllowUnqualifiedDNSQuery: true };
    expect((await rejection(sim.createComputeSystem('c2', bad))).code).toBe('HCS_E_INVALID_JSON');
    const wrongLayers = structuredClone(doc) as any;
    wrongLayers.Container.Storage.Layers.reverse();
    expect((await rejection(sim.createComputeSystem('c3', wrongLayers))).code).toBe('HCS_E_INVALID_LAYER');
    const both = structuredClone(doc) as any;
    both.Container.Processor = { Count: 1, Maximum: 5000 };
    expect((await rejection(sim.createComputeSystem('c4', both))).code).toBe('E_INVALIDARG');
    expect((await rejection(sim.pauseComputeSystem(sys))).code).toBe('HCS_E_SYSTEM_NOT_CONFIGURED_FOR_OPERATION');
    await sim.terminateComputeSystem(sys);
    await sim.closeComputeSystem(sys);

    const ltsc2019 = new HcsSimulator();
    expect((await rejection(ltsc2019.createComputeSystem('old', await processContainer(ltsc2019, 'old', '10.0.17763.5820')))).code).toBe('HCS_E_IMAGE_MISMATCH');
    // Server 2025 runs Server 2022 images under process isolation (the stable ABI rule) and nothing older
    const s2025 = new HcsSimulator({ hostOsVersion: '10.0.26100.2894' });
    await s2025.createComputeSystem('ok', await processContainer(s2025, 'ok', '10.0.20348.2340'));
  });

  it('signals: CtrlShutdown reaches a trap as SIGTERM; TerminateProcess ends with 1; a dead process says HCS_E_PROCESS_ALREADY_STOPPED', async () => {
    const sim = new HcsSimulator({
      programs: (args) =>
        args[0] === 'server'
          ? async (p) => {
              p.trap(15, () => p.exit(42));
              p.stdout('ready\n');
              for (;;) await p.sleep(0.05);
            }
          : undefined,
    });
    const sys = await sim.createComputeSystem('c1', await processContainer(sim));
    await sim.startComputeSystem(sys);
    const a = await sim.createProcess(sys, processParameters({}, { args: ['server'] }));
    await sim.signalProcess(a, { Signal: 'CtrlShutdown' });
    expect((await sim.waitForProcessExit(a)).ExitCode).toBe(42);
    expect((await rejection(sim.signalProcess(a, { Signal: 'CtrlC' }))).code).toBe('HCS_E_PROCESS_ALREADY_STOPPED');
    expect((await rejection(sim.signalProcess(a, { Signal: 15 }))).code).toBe('E_INVALIDARG');
    const b = await sim.createProcess(sys, processParameters({}, { args: ['server'] }));
    await sim.terminateProcess(b);
    expect((await sim.waitForProcessExit(b)).ExitCode).toBe(1);
    expect((await rejection(sim.terminateProcess(b))).code).toBe('HCS_E_PROCESS_ALREADY_STOPPED');
    // stdin, closed through HcsModifyProcess
    const c = await sim.createProcess(sys, processParameters({}, { args: ['cat'], stdin: true }));
    const out = read(c.stdout);
    c.stdin!.write('abc\n');
    await sim.modifyProcess(c, { Operation: 'CloseHandle', CloseHandle: { Handle: 'StdIn' } });
    expect(await out).toBe('abc\n');
    expect((await rejection(sim.createProcess(sys, processParameters({}, { args: ['id'], user: 'nosuchuser' })))).code).toBe('ERROR_NONE_MAPPED');
  });
});

describe('HcsSimulator: Hyper-V (WCOW) utility VMs and hosted containers', () => {
  async function uvm(sim: HcsSimulator, guestConnection: boolean, baseVersion = '10.0.20348.2340') {
    const data = await layers(sim, baseVersion);
    const doc = wcowUvmDocument({ baseLayer: BASE, scratchVhdx: 'C:\\berth\\uvm\\sandbox.vhdx' });
    if (guestConnection) doc.VirtualMachine!.GuestConnection = {};
    const vm = await sim.createComputeSystem('vm1', doc);
    await sim.startComputeSystem(vm);
    return { vm, data };
  }

  it('a hosted container needs HCS to hold the guest connection, and its layers shared into the VM', async () => {
    const sim = new HcsSimulator();
    const { vm, data } = await uvm(sim, true);
    const hosted = hostedComputeSystem('vm1', hostedContainerDocument({ spec: spec(), layers: data.Layers.map((l, i) => ({ Id: l.Id, Path: vsmbGuestPath(`s${i + 1}`) })), scratchPath: 'c:\\mounts\\scsi\\m0' }));
    expect((await rejection(sim.createComputeSystem('c1', hosted))).code).toBe('HCS_E_INVALID_LAYER');
    await sim.modifyComputeSystem(vm, vsmbShareRequest({ name: 's1', path: TOP }));
    await sim.modifyComputeSystem(vm, vsmbShareRequest({ name: 's2', path: BASE }));
    expect((await rejection(sim.modifyComputeSystem(vm, vsmbShareRequest({ name: 's2', path: BASE })))).code).toBe('ERROR_ALREADY_EXISTS');
    expect((await rejection(sim.createComputeSystem('c1', hosted))).code).toBe('ERROR_PATH_NOT_FOUND');
    await sim.modifyComputeSystem(vm, scsiAttachRequest(1, 'C:\\berth\\scratch\\c1\\sandbox.vhdx'));
    const c = await sim.createComputeSystem('c1', hosted);
    await sim.startComputeSystem(c);
    const p = await sim.createProcess(c, processParameters({}, { args: ['sh', '-c', 'sleep 0.3; echo late'] }));
    const out = read(p.stdout);
    // pausing the VM freezes its guest
    await sim.pauseComputeSystem(vm);
    await new Promise((r) => setTimeout(r, 500));
    expect((await sim.getProcessProperties(p)).Exited).toBe(false);
    await sim.resumeComputeSystem(vm);
    expect((await sim.waitForProcessExit(p)).ExitCode).toBe(0);
    expect(await out).toBe('late\n');
    // the VM's end ends what it hosts
    await sim.terminateComputeSystem(vm);
    expect(sim.stateOf('c1')).toBe('Stopped');
  });

  it('without GuestConnection HCS cannot reach the guest; an image newer than the host does not boot', async () => {
    const sim = new HcsSimulator();
    const { data } = await uvm(sim, false);
    const hosted = hostedComputeSystem('vm1', hostedContainerDocument({ spec: spec(), layers: data.Layers, scratchPath: 'c:\\mounts\\scsi\\m0' }));
    expect((await rejection(sim.createComputeSystem('c1', hosted))).code).toBe('HCS_E_SYSTEM_NOT_CONFIGURED_FOR_OPERATION');
    expect((await rejection(sim.createComputeSystem('c2', hostedComputeSystem('nope', hosted.HostedSystem as any)))).code).toBe('HCS_E_SYSTEM_NOT_FOUND');
    const newer = new HcsSimulator();
    expect((await rejection(uvm(newer, true, '10.0.26100.1'))).code).toBe('HCS_E_IMAGE_MISMATCH');
    // Hyper-V runs older builds
    await uvm(new HcsSimulator(), true, '10.0.17763.5820');
  });
});

describe('HcsSimulator: HCN', () => {
  it('NAT network, endpoints with addresses from the subnet, port clashes, namespaces', async () => {
    const sim = new HcsSimulator();
    const net = '0c4d6f2e-1b3a-4c5d-8e9f-0a1b2c3d4e5f';
    await sim.createNetwork(net, natNetwork({ name: 'nat', subnet: '172.30.0.0/24', gateway: '172.30.0.1' }));
    expect((await rejection(sim.createNetwork('1c4d6f2e-1b3a-4c5d-8e9f-0a1b2c3d4e5f', natNetwork({ name: 'nat', subnet: '172.31.0.0/24', gateway: '172.31.0.1' })))).code).toBe('HCN_E_NETWORK_ALREADY_EXISTS');
    const ep1 = '2c4d6f2e-1b3a-4c5d-8e9f-0a1b2c3d4e5f';
    const ep2 = '3c4d6f2e-1b3a-4c5d-8e9f-0a1b2c3d4e5f';
    await sim.createEndpoint(net, ep1, endpointDocument({ name: 'a', ports: [{ internal: 80, external: 8080, protocol: 'tcp' }] }));
    expect((await sim.queryEndpointProperties(ep1)).IpConfigurations).toEqual([{ IpAddress: '172.30.0.2', PrefixLength: 24 }]);
    expect((await rejection(sim.createEndpoint(net, ep2, endpointDocument({ name: 'b', ports: [{ internal: 80, external: 8080, protocol: 'tcp' }] })))).code).toBe('HCN_E_PORT_ALREADY_EXISTS');
    expect((await rejection(sim.createEndpoint('4c4d6f2e-1b3a-4c5d-8e9f-0a1b2c3d4e5f', ep2, endpointDocument({ name: 'b' })))).code).toBe('HCN_E_NETWORK_NOT_FOUND');
    const ns = '5c4d6f2e-1b3a-4c5d-8e9f-0a1b2c3d4e5f';
    await sim.createNamespace(ns, namespaceDocument());
    await sim.modifyNamespace(ns, namespaceAddEndpoint(ep1));
    expect((await sim.queryNamespaceProperties(ns)).Resources).toEqual([{ Type: 'Endpoint', Data: { Id: ep1 } }]);
    await sim.deleteEndpoint(ep1);
    await sim.deleteNamespace(ns);
    await sim.deleteNetwork(net);
  });
});

describe('HcsSimulator: layer folders on disk (onDisk)', () => {
  it('imports need existing folders, a parentless import is a base layer, and layerData must be the parent chain, topmost first', async () => {
    const { mkdtempSync, mkdirSync, rmSync, existsSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { nameToGuid } = await import('../src/simulator/index.js');
    const dir = mkdtempSync(join(tmpdir(), 'berth-sim-disk-'));
    try {
      const sim = new HcsSimulator({ onDisk: true, hostOsVersion: '10.0.20348.2340' });
      const folder = (n: string) => {
        mkdirSync(join(dir, n), { recursive: true });
        return join(dir, n);
      };
      const data = (...paths: string[]) => ({ SchemaVersion: { Major: 2, Minor: 1 }, Layers: paths.map((p) => ({ Id: nameToGuid(p.split('/').pop()!), Path: p })) });
      const src = folder('src');
      mkdirSync(join(src, 'UtilityVM', 'Files'), { recursive: true });
      await expect(sim.importLayer(join(dir, 'nofolder'), src, data())).rejects.toMatchObject({ message: expect.stringMatching(/ERROR_PATH_NOT_FOUND/) });
      await expect(sim.importLayer(folder('base'), join(dir, 'nosource'), data())).rejects.toMatchObject({ message: expect.stringMatching(/ERROR_PATH_NOT_FOUND/) });
      const base = folder('base');
      await sim.importLayer(base, src, data());
      expect(sim.storage.layer(base)).toMatchObject({ osVersion: '10.0.20348.2340', utilityVm: true, parents: [] });
      expect(existsSync(join(base, 'UtilityVM', 'SystemTemplate.vhdx'))).toBe(true);
      const mid = folder('mid');
      await sim.importLayer(mid, folder('src2'), data(base));
      const top = folder('top');
      // base first is not the chain: HCS wants topmost first
      await expect(sim.importLayer(top, folder('src3'), data(base, mid))).rejects.toMatchObject({ message: expect.stringMatching(/HCS_E_INVALID_LAYER.*parent chain/) });
      await expect(sim.importLayer(top, folder('src3'), data(mid))).rejects.toMatchObject({ message: expect.stringMatching(/parent chain/) });
      await sim.importLayer(top, folder('src3'), data(mid, base));
      const scratch = join(dir, 'scratch');
      await expect(sim.initializeWritableLayer(scratch, data(top, mid, base))).rejects.toMatchObject({ message: expect.stringMatching(/ERROR_PATH_NOT_FOUND/) });
      await sim.initializeWritableLayer(folder('scratch'), data(top, mid, base));
      await sim.destroyLayer(scratch);
      expect(existsSync(scratch)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
