/*
 * docker network connect/disconnect of a running LCOW container, through the driver over
 * the simulator, as hcsshim's AddEndpointsToNS / RemoveEndpointFromNS do it: the new
 * endpoint joins the container's HCN namespace, then becomes a network adapter of the
 * utility VM (HCS), then the guest puts it in the container's namespace (GCS Network Add);
 * disconnect goes the other way (guest, then HCS, then HCN). What HCS, HCN and the GCS
 * refuse leaves nothing behind.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { namespaceAddEndpoint, namespaceRemoveEndpoint, type ModifySettingRequest } from '@berth/hcs';
import { HcsSimulator } from '@berth/hcs/simulator';
import type { ContainerSpec } from '@berth/runtime';
import { WindowsHypervDriver } from '../src/index.js';

const LINUX = 'C:\\berth\\layers\\alpine';
const BOOT = 'C:\\berth\\LinuxBootFiles';
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function setup() {
  const sim = new HcsSimulator();
  sim.addBaseLayer(LINUX, { osVersion: '', os: 'linux' });
  sim.addLinuxBootFiles(BOOT);
  const stateDir = mkdtempSync(join(tmpdir(), 'berth-winhv-'));
  dirs.push(stateDir);
  const driver = new WindowsHypervDriver({ hcs: sim, stateDir, scratchRoot: 'C:\\berth\\scratch', linuxBootFiles: BOOT, hvsock: sim.hvsock });
  return { sim, driver };
}

const sleeper = (id: string): ContainerSpec => ({ id, rootfs: { layers: [LINUX] }, platform: { os: 'linux', architecture: 'amd64' }, process: { args: ['sleep', '60'] }, network: { mode: 'bridge' } });

type GuestRequest = { ResourceType: string; RequestType: string; Settings: Record<string, unknown> };
const nicMods = (sim: HcsSimulator, from: number) =>
  sim.received
    .slice(from)
    .filter((r) => r.call === 'HcsModifyComputeSystem' || r.call === 'HcnModifyNamespace')
    .map((r) => (r.call === 'HcnModifyNamespace' ? ['HCN', (r.document as { RequestType: string }).RequestType] : ['HCS', (r.document as ModifySettingRequest).RequestType, (r.document as ModifySettingRequest).ResourcePath]));

describe('windows/hyperv LCOW: network connect and disconnect while the container runs', () => {
  it('hot-adds the endpoint as the VM\'s adapter in the guest namespace, and takes it away guest first', async () => {
    const { sim, driver } = setup();
    await driver.network.createNetwork({ name: 'back', subnet: '10.77.0.0/24' });
    await driver.create(sleeper('c1'));
    await driver.start('c1');
    const gcs = sim.guestOf('c1@uvm')!;
    const [nsId] = [...sim.hcn.namespaces.keys()];
    expect(gcs.networkOf('c1')).toHaveLength(1);

    const mark = { hcs: sim.received.length, gcs: gcs.received.length };
    const iface = await driver.network.connect('c1', { name: 'back', ipv4Address: '10.77.0.9' });
    expect(iface).toMatchObject({ network: 'back', ip: '10.77.0.9', prefixLen: 24, gateway: '10.77.0.1' });
    const ep = [...sim.hcn.endpoints.values()].find((e) => e.IpConfigurations?.[0]?.IpAddress === '10.77.0.9')!;
    // HCN's namespace first, then the VM's adapter (HCS), then the guest
    const added = nicMods(sim, mark.hcs);
    expect(added).toEqual([
      ['HCN', 'Add'],
      ['HCS', 'Add', expect.stringMatching(/^VirtualMachine\/Devices\/NetworkAdapters\/[0-9a-f-]{36}$/)],
    ]);
    const nicPath = added[1]![2] as string;
    const nicId = nicPath.split('/').pop()!;
    expect(sim.hcn.namespaces.get(nsId!)!.endpoints.has(ep.ID)).toBe(true);
    const guestAdds = gcs.received.slice(mark.gcs).map((r) => r.body.Request as GuestRequest);
    expect(guestAdds).toEqual([
      {
        ResourceType: 'Network',
        RequestType: 'Add',
        Settings: { NamespaceID: nsId, ID: nicId, MacAddress: ep.MacAddress, IPConfigs: [{ IPAddress: '10.77.0.9', PrefixLength: 24 }], Routes: [{ NextHop: '10.77.0.1', DestinationPrefix: '0.0.0.0/0' }] },
      },
    ]);
    // the running container's namespace now holds both adapters; the network shows it
    expect(gcs.networkOf('c1').map((a) => a.IPConfigs?.[0]?.IPAddress)).toEqual([expect.any(String), '10.77.0.9']);
    expect((await driver.network.inspectNetwork('back')).containers).toEqual([expect.objectContaining({ containerId: 'c1', ip: '10.77.0.9' })]);

    // connecting again is refused before anything reaches HCS
    const again = sim.received.length;
    await expect(driver.network.connect('c1', { name: 'back' })).rejects.toMatchObject({ code: 'Conflict' });
    expect(sim.received.length).toBe(again);

    const mark2 = { hcs: sim.received.length, gcs: gcs.received.length };
    // what the guest still holds when HCS is asked to take the adapter away: the guest lets go first
    let heldAtRemove = -1;
    const modify = sim.modifyComputeSystem.bind(sim);
    sim.modifyComputeSystem = async (system, request) => {
      if (request.RequestType === 'Remove') heldAtRemove = gcs.networkOf('c1').length;
      return modify(system, request);
    };
    await driver.network.disconnect('c1', 'back');
    sim.modifyComputeSystem = modify;
    expect(heldAtRemove).toBe(1);
    expect(gcs.received.slice(mark2.gcs).map((r) => r.body.Request)).toEqual([{ ResourceType: 'Network', RequestType: 'Remove', Settings: expect.objectContaining({ NamespaceID: nsId, ID: nicId }) }]);
    expect(nicMods(sim, mark2.hcs)).toEqual([
      ['HCS', 'Remove', nicPath],
      ['HCN', 'Remove'],
    ]);
    expect(sim.hcn.endpoints.has(ep.ID)).toBe(false);
    expect(gcs.networkOf('c1')).toHaveLength(1);
    expect((await driver.network.inspectNetwork('back')).containers).toEqual([]);
    await expect(driver.network.disconnect('c1', 'back')).rejects.toMatchObject({ code: 'NotFound' });

    // connected again, then removed with the container: the hot-added adapter goes with the VM's others
    await driver.network.connect('c1', { name: 'back' });
    const mark3 = sim.received.length;
    await driver.delete('c1', { force: true });
    expect(nicMods(sim, mark3).filter((m) => m[0] === 'HCS').map((m) => m[1])).toEqual(['Remove', 'Remove']);
    expect(sim.stateOf('c1@uvm')).toBeUndefined();
    expect(sim.hcn.endpoints.size).toBe(0);
    expect(sim.hcn.namespaces.size).toBe(0);
  });

  it('an adapter the guest refuses is taken from the VM and the endpoint from HCN: the container is left as it was', async () => {
    const { sim, driver } = setup();
    await driver.network.createNetwork({ name: 'back', subnet: '10.78.0.0/24' });
    await driver.create(sleeper('c2'));
    await driver.start('c2');
    const gcs = sim.guestOf('c2@uvm')!;
    const endpoints = sim.hcn.endpoints.size;
    // the guest refuses the adapter (as a GCS that never sees the device appear does)
    const nics = gcs.resources;
    const realModify = nics.modify.bind(nics);
    nics.modify = (r) => {
      if (r.ResourceType === 'Network' && r.RequestType === 'Add') throw Object.assign(new Error('no network adapter appeared'), { hresult: 0x80070490 });
      return realModify(r);
    };
    const mark = sim.received.length;
    await expect(driver.network.connect('c2', { name: 'back' })).rejects.toThrow();
    nics.modify = realModify;
    expect(nicMods(sim, mark)).toEqual([
      ['HCN', 'Add'],
      ['HCS', 'Add', expect.stringContaining('NetworkAdapters')],
      ['HCS', 'Remove', expect.stringContaining('NetworkAdapters')],
      ['HCN', 'Remove'],
    ]);
    expect(sim.hcn.endpoints.size).toBe(endpoints);
    expect(gcs.networkOf('c2')).toHaveLength(1);
    expect((await driver.network.inspectNetwork('back')).containers).toEqual([]);
    // and it can still join
    await driver.network.connect('c2', { name: 'back' });
    expect(gcs.networkOf('c2')).toHaveLength(2);
    await driver.delete('c2', { force: true });
    expect(sim.hcn.endpoints.size).toBe(0);
  });

  it('HCN refuses an endpoint already in the namespace and the removal of one that is not', async () => {
    const { sim, driver } = setup();
    await driver.create(sleeper('c3'));
    const [nsId] = [...sim.hcn.namespaces.keys()];
    const [ep] = [...sim.hcn.endpoints.values()];
    await expect(sim.modifyNamespace(nsId!, namespaceAddEndpoint(ep!.ID))).rejects.toMatchObject({ name: expect.any(String), message: expect.stringMatching(/HCN_E_ENDPOINT_ALREADY_ATTACHED/) });
    await sim.modifyNamespace(nsId!, namespaceRemoveEndpoint(ep!.ID));
    await expect(sim.modifyNamespace(nsId!, namespaceRemoveEndpoint(ep!.ID))).rejects.toMatchObject({ message: expect.stringMatching(/HCN_E_ENDPOINT_NOT_ATTACHED/) });
    await sim.modifyNamespace(nsId!, namespaceAddEndpoint(ep!.ID));
    await driver.delete('c3');
  });
});
