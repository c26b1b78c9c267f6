/*
 * What the process-isolation driver hands HCS, beyond the conformance suite: the
 * documents of FACTS §2 and §4 in order, HCS's refusals surfacing at create with nothing
 * left behind, published ports as HCN policies (a taken one is a Conflict), and no pause.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isVolumeGuidPath, natNetwork, type ComputeSystem, type ProcessParameters } from '@berth/hcs';
import { HcsSimulator, nameToGuid } from '@berth/hcs/simulator';
import type { ContainerSpec, RuntimeDriver } from '@berth/runtime';
import { WindowsProcessDriver } from '../src/index.js';

const BASE = 'C:\\berth\\layers\\base';
const TOP = 'C:\\berth\\layers\\top';
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

async function setup(baseVersion = '10.0.20348.2340') {
  const sim = new HcsSimulator();
  sim.addBaseLayer(BASE, { osVersion: baseVersion });
  await sim.importLayer(TOP, 'C:\\tmp\\top', { SchemaVersion: { Major: 2, Minor: 1 }, Layers: [{ Id: nameToGuid('base'), Path: BASE }] });
  const stateDir = mkdtempSync(join(tmpdir(), 'berth-winproc-'));
  dirs.push(stateDir);
  return { sim, driver: new WindowsProcessDriver({ hcs: sim, stateDir, scratchRoot: 'C:\\berth\\scratch', hostProcessors: 4 }) };
}

const spec = (id: string, extra: Partial<ContainerSpec> = {}): ContainerSpec => ({
  id,
  rootfs: { layers: [TOP, BASE] },
  process: { args: ['cmd', '/S', '/C', 'echo hello world'] },
  image: { env: ['PATH=C:\\Windows\\system32;C:\\Windows'] },
  network: { mode: 'bridge', ports: [{ hostPort: 8080, containerPort: 80 }] },
  resources: { cpus: 2e9, memory: 512 << 20 },
  ...extra,
});

describe('windows/process: HCS call sequence', () => {
  it('layers, scratch, HCN namespace and the Container document, in FACTS order', async () => {
    const { sim, driver } = await setup();
    const before = sim.received.length;
    await driver.create(spec('c1'));
    const calls = sim.received.slice(before).map((r) => r.call);
    expect(calls).toEqual(['HcnCreateNetwork', 'HcnCreateNamespace', 'HcnCreateEndpoint', 'HcnModifyNamespace', 'HcsInitializeWritableLayer', 'PrepareLayer', 'HcsCreateComputeSystem']);
    const doc = sim.received.at(-1)!.document as ComputeSystem;
    expect(doc.Container!.Storage.Layers).toEqual([
      { Id: nameToGuid('top'), Path: TOP },
      { Id: nameToGuid('base'), Path: BASE },
    ]);
    expect(isVolumeGuidPath(doc.Container!.Storage.Path)).toBe(true);
    const ns = sim.received.find((r) => r.call === 'HcnModifyNamespace');
    expect(doc.Container!.Networking?.Namespace).toBeTruthy();
    expect(sim.hcn.namespaces.has(doc.Container!.Networking!.Namespace!.toLowerCase())).toBe(true);
    expect(ns).toBeTruthy();
    // --cpus 2 of 4 processors: Maximum 5000 of 10000; 512 MiB
    expect(doc.Container!.Processor).toEqual({ Maximum: 5000 });
    expect(doc.Container!.Memory).toEqual({ SizeInMB: 512 });
    const ep = sim.received.find((r) => r.call === 'HcnCreateEndpoint')!.document as { Policies: unknown[] };
    expect(ep.Policies).toEqual([{ Type: 'PortMapping', Settings: { InternalPort: 80, ExternalPort: 8080, Protocol: 6 } }]);

    await driver.start('c1');
    const params = sim.received.find((r) => r.call === 'HcsCreateProcess')!.document as ProcessParameters;
    expect(params.CommandLine).toBe('cmd /S /C "echo hello world"');
    expect(params.Environment).toEqual({ PATH: 'C:\\Windows\\system32;C:\\Windows' });
    await driver.wait('c1');
    expect(sim.received.map((r) => r.call)).toContain('HcsCreateProcess');
    await driver.delete('c1');
    expect(sim.storage.writable.has('c:\\berth\\scratch\\c1')).toBe(false);
    expect(sim.hcn.endpoints.size).toBe(0);
    expect(sim.hcn.namespaces.size).toBe(0);
  });

  it('an image the host cannot run fails at create with HCS_E_IMAGE_MISMATCH, leaving no scratch or endpoint', async () => {
    const { sim, driver } = await setup('10.0.17763.5820');
    await expect(driver.create(spec('old'))).rejects.toMatchObject({ code: 'HCS_E_IMAGE_MISMATCH' });
    expect(sim.storage.writable.size).toBe(0);
    expect(sim.hcn.endpoints.size).toBe(0);
    expect(sim.hcn.namespaces.size).toBe(0);
    await expect(driver.state('old')).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('a host port already published is a Conflict', async () => {
    const { driver } = await setup();
    await driver.create(spec('a'));
    await expect(driver.create(spec('b'))).rejects.toMatchObject({ code: 'Conflict' });
    await driver.delete('a');
    await driver.create(spec('b'));
    await driver.delete('b');
  });

  it('joins a network the host already has by name (Windows makes `nat` itself), and named user networks', async () => {
    const { sim, driver } = await setup();
    const hostNat = '6c4d6f2e-1b3a-4c5d-8e9f-0a1b2c3d4e5f';
    await sim.createNetwork(hostNat, natNetwork({ name: 'nat', subnet: '172.20.16.0/20', gateway: '172.20.16.1' }));
    await driver.create(spec('n1', { network: { mode: 'bridge', networks: [{ name: 'bridge' }] } }));
    expect([...sim.hcn.endpoints.values()].map((e) => [e.network, e.IpConfigurations?.[0]?.IpAddress])).toEqual([[hostNat, '172.20.16.2']]);
    await driver.network.createNetwork({ name: 'backend', subnet: '10.99.0.0/24' });
    await driver.create(spec('n2', { network: { mode: 'bridge', networks: [{ name: 'backend', aliases: ['db'] }] } }));
    expect(driver.network.lookup('n2', 'db')).toEqual(['10.99.0.2']);
    const doc = sim.received.filter((r) => r.call === 'HcsCreateComputeSystem').at(-1)!.document as ComputeSystem;
    expect(doc.Container!.Networking!.Namespace).toBe(driver.network.namespaceOf('n2'));
    await driver.delete('n1');
    await driver.delete('n2');
    expect(sim.hcn.endpoints.size).toBe(0);
  });

  it('an attacher that does not read holds the output back instead of the driver buffering it', async () => {
    const chunk = Buffer.alloc(64 * 1024, 7);
    const sim = new HcsSimulator({
      programs: (args) =>
        args[0] === 'flood'
          ? async (p) => {
              for (let i = 0; i < 160; i++) {
                p.stdout(chunk);
                await p.sleep(0);
              }
              return 0;
            }
          : undefined,
    });
    sim.addBaseLayer(BASE, { osVersion: '10.0.20348.2340' });
    const stateDir = mkdtempSync(join(tmpdir(), 'berth-winproc-'));
    dirs.push(stateDir);
    const driver = new WindowsProcessDriver({ hcs: sim, stateDir, scratchRoot: 'C:\\berth\\scratch' });
    await driver.create({ id: 'flood', rootfs: { layers: [BASE] }, process: { args: ['flood'] } });
    const io = await driver.attach('flood', { stdout: true });
    await driver.start('flood');
    await new Promise((r) => setTimeout(r, 500));
    // one chunk in the attach stream's buffers at most, not the 10 MiB written
    expect(io.stdout.readableLength).toBeLessThanOrEqual(2 * chunk.length);
    let total = 0;
    io.stdout.on('data', (b: Buffer) => (total += b.length));
    expect((await driver.wait('flood')).exitCode).toBe(0);
    await new Promise((r) => setImmediate(r));
    expect(total).toBe(160 * chunk.length);
    io.close();
    await driver.delete('flood');
  });

  it('has no pause: Windows Server containers cannot be frozen', async () => {
    const { driver } = await setup();
    const r: RuntimeDriver = driver;
    expect(r.pause).toBeUndefined();
    expect(r.unpause).toBeUndefined();
  });

  it('refuses what Windows containers lack: a read-only rootfs, tmpfs, Linux images', async () => {
    const { driver, sim } = await setup();
    await expect(driver.create(spec('ro', { security: { readonlyRootfs: true }, network: { mode: 'none' } }))).rejects.toMatchObject({ code: 'Unsupported' });
    await expect(driver.create(spec('tmp', { mounts: [{ type: 'tmpfs', destination: 'C:\\tmp' }], network: { mode: 'none' } }))).rejects.toMatchObject({ code: 'Unsupported' });
    await expect(driver.create(spec('lin', { platform: { os: 'linux', architecture: 'amd64' }, network: { mode: 'none' } }))).rejects.toMatchObject({ code: 'Unsupported' });
    expect(sim.storage.writable.size).toBe(0);
  });
});
