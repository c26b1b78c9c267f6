/*
 * docker network connect/disconnect of a running process-isolated container: the new
 * endpoint is added to the HCN namespace the container's document names (hcsshim's
 * hcn.AddNamespaceEndpoint); HNS plumbs it into the container's compartment, so nothing
 * goes to HCS. Disconnect takes it out of the namespace and deletes it. The container runs
 * on throughout.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ComputeSystem } from '@berth/hcs';
import { HcsSimulator } from '@berth/hcs/simulator';
import { WindowsProcessDriver } from '../src/index.js';

const BASE = 'C:\\berth\\layers\\base';
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('windows/process: network connect and disconnect while the container runs', () => {
  it('adds the endpoint to the container\'s HCN namespace and takes it out again, HCS untouched', async () => {
    const sim = new HcsSimulator({
      programs: (args) =>
        args[0] === 'idle'
          ? async (p) => {
              for (;;) await p.sleep(0.05);
            }
          : undefined,
    });
    sim.addBaseLayer(BASE, { osVersion: '10.0.20348.2340' });
    const stateDir = mkdtempSync(join(tmpdir(), 'berth-winproc-'));
    dirs.push(stateDir);
    const driver = new WindowsProcessDriver({ hcs: sim, stateDir, scratchRoot: 'C:\\berth\\scratch', hostProcessors: 4 });
    await driver.network.createNetwork({ name: 'back', subnet: '10.79.0.0/24' });
    await driver.create({ id: 'p1', rootfs: { layers: [BASE] }, process: { args: ['idle'] }, network: { mode: 'bridge' } });
    await driver.start('p1');
    const doc = sim.received.find((r) => r.call === 'HcsCreateComputeSystem')!.document as ComputeSystem;
    const ns = sim.hcn.namespaces.get(doc.Container!.Networking!.Namespace!.toLowerCase())!;
    expect(ns.endpoints.size).toBe(1);

    const mark = sim.received.length;
    const iface = await driver.network.connect('p1', { name: 'back', aliases: ['db'] });
    expect(iface).toMatchObject({ network: 'back', ip: '10.79.0.2', prefixLen: 24, gateway: '10.79.0.1' });
    expect(sim.received.slice(mark).map((r) => [r.call, (r.document as { RequestType?: string } | undefined)?.RequestType])).toEqual([
      ['HcnCreateEndpoint', undefined],
      ['HcnModifyNamespace', 'Add'],
    ]);
    const ep = [...sim.hcn.endpoints.values()].find((e) => e.IpConfigurations?.[0]?.IpAddress === '10.79.0.2')!;
    expect(ns.endpoints.has(ep.ID)).toBe(true);
    expect((await driver.state('p1')).status).toBe('running');

    const mark2 = sim.received.length;
    await driver.network.disconnect('p1', 'back');
    // (the simulator records documents, and HcnDeleteEndpoint has none: the endpoint's absence shows it)
    expect(sim.received.slice(mark2).map((r) => [r.call, (r.document as { RequestType?: string } | undefined)?.RequestType])).toEqual([['HcnModifyNamespace', 'Remove']]);
    expect(ns.endpoints.size).toBe(1);
    expect(sim.hcn.endpoints.has(ep.ID)).toBe(false);
    expect((await driver.state('p1')).status).toBe('running');
    await expect(driver.network.disconnect('p1', 'back')).rejects.toMatchObject({ code: 'NotFound' });

    await driver.delete('p1', { force: true });
    expect(sim.hcn.endpoints.size).toBe(0);
    expect(sim.hcn.namespaces.size).toBe(0);
  });
});
