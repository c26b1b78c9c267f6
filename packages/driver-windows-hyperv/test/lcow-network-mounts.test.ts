/*
 * An LCOW container on the HCN NAT network with a published port, a read-only directory
 * bind and a single-file bind, through the driver over the simulator: the endpoint becomes
 * the VM's network adapter and the guest's adapter in the container's namespace before
 * the container is created; each bind is a Plan9 share mounted in the guest, the OCI
 * mount pointing there; the container reads the host's files at the binds' destinations;
 * removal takes shares and adapter away guest first, in reverse order, then HCN's endpoint.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { LinuxHostedSystem, ModifySettingRequest } from '@berth/hcs';
import { HcsSimulator } from '@berth/hcs/simulator';
import type { ContainerSpec } from '@berth/runtime';
import { WindowsHypervDriver } from '../src/index.js';

const LINUX = 'C:\\berth\\layers\\alpine';
const BOOT = 'C:\\berth\\LinuxBootFiles';
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tmp = (p: string) => {
  const d = mkdtempSync(join(tmpdir(), p));
  dirs.push(d);
  return d;
};

function setup(options: ConstructorParameters<typeof HcsSimulator>[0] = {}) {
  const sim = new HcsSimulator(options);
  sim.addBaseLayer(LINUX, { osVersion: '', os: 'linux' });
  sim.addLinuxBootFiles(BOOT);
  const driver = new WindowsHypervDriver({ hcs: sim, stateDir: tmp('berth-winhv-'), scratchRoot: 'C:\\berth\\scratch', linuxBootFiles: BOOT, hvsock: sim.hvsock });
  return { sim, driver };
}

const linux = (id: string, extra: Partial<ContainerSpec>): ContainerSpec => ({ id, rootfs: { layers: [LINUX] }, platform: { os: 'linux', architecture: 'amd64' }, process: { args: ['true'] }, ...extra });

async function logs(driver: WindowsHypervDriver, id: string): Promise<string> {
  const out: Buffer[] = [];
  for await (const e of driver.logs(id)) out.push(e.data);
  return Buffer.concat(out).toString();
}

describe('windows/hyperv LCOW: networking through HCN, bind mounts through Plan9', () => {
  it('adds the endpoint as a network adapter and the binds as Plan9 shares before the container, and takes them away in reverse order', async () => {
    const host = tmp('berth-lcow-bind-');
    writeFileSync(join(host, 'hello.txt'), 'hello from the host\n');
    const cfgDir = tmp('berth-lcow-file-');
    writeFileSync(join(cfgDir, 'app.conf'), 'port=80\n');
    const { sim, driver } = setup();
    await driver.create(
      linux('n1', {
        process: { args: ['cat', '/data/hello.txt', '/etc/app.conf'] },
        network: { mode: 'bridge', ports: [{ containerPort: 80, hostPort: 8080, protocol: 'tcp' }], dns: { search: ['corp.example'] } },
        mounts: [
          { type: 'bind', source: host, destination: '/data', readonly: true },
          { type: 'tmpfs', destination: '/scratch' },
          { type: 'bind', source: join(cfgDir, 'app.conf'), destination: '/etc/app.conf' },
        ],
      }),
    );
    const me = (await driver.network.inspectNetwork('nat')).containers.find((c) => c.containerId === 'n1')!;
    expect(me.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const [ep] = [...sim.hcn.endpoints.values()];
    const [nsId] = [...sim.hcn.namespaces.keys()];
    // the published port is the NAT endpoint's port mapping, as for a Windows container
    expect(ep!.Policies).toEqual([{ Type: 'PortMapping', Settings: { InternalPort: 80, ExternalPort: 8080, Protocol: 6 } }]);

    const mods = sim.received.filter((r) => r.call === 'HcsModifyComputeSystem').map((r) => r.document as ModifySettingRequest);
    const nicPath = mods[0]!.ResourcePath!;
    const nicId = nicPath.split('/').pop()!;
    expect(mods.map((m) => [m.RequestType, m.ResourcePath!.replace(/Scsi\/[^/]+/, 'Scsi/0')])).toEqual([
      ['Add', `VirtualMachine/Devices/NetworkAdapters/${nicId}`],
      ['Add', 'VirtualMachine/Devices/Scsi/0/Attachments/1'],
      ['Add', 'VirtualMachine/Devices/Scsi/0/Attachments/2'],
      ['Add', 'VirtualMachine/Devices/Plan9/Shares'],
      ['Add', 'VirtualMachine/Devices/Plan9/Shares'],
    ]);
    expect(mods[0]!.Settings).toEqual({ EndpointId: ep!.ID, MacAddress: ep!.MacAddress });
    expect(mods[3]!.Settings).toEqual({ Name: '0', AccessName: '0', Path: host, Port: 564, Flags: 0x5 });
    expect(mods[4]!.Settings).toEqual({ Name: '1', AccessName: '1', Path: cfgDir, Port: 564, Flags: 0x84, AllowedFiles: ['app.conf'] });

    const gcs = sim.guestOf('n1@uvm')!;
    const guestMods = gcs.received.filter((r) => r.rpc === 'ModifySettings').map((r) => r.body.Request as { ResourceType: string; RequestType: string; Settings: Record<string, unknown> });
    expect(guestMods.map((m) => m.ResourceType)).toEqual(['Network', 'MappedVirtualDisk', 'MappedVirtualDisk', 'CombinedLayers', 'MappedDirectory', 'MappedDirectory']);
    const gateway = (await driver.network.inspectNetwork('nat')).gateway;
    const adapter = { NamespaceID: nsId, ID: nicId, MacAddress: ep!.MacAddress, DNSSuffix: 'corp.example', IPConfigs: [{ IPAddress: me.ip, PrefixLength: me.prefixLen }], Routes: [{ NextHop: gateway, DestinationPrefix: '0.0.0.0/0' }] };
    expect(guestMods[0]!.Settings).toEqual(adapter);
    expect(guestMods.slice(4).map((m) => m.Settings)).toEqual([
      { MountPath: '/run/gcs/c/n1/mounts/m0', ShareName: '0', Port: 564, ReadOnly: true },
      { MountPath: '/run/gcs/c/n1/mounts/m2', ShareName: '1', Port: 564 },
    ]);
    const create = gcs.received.find((r) => r.rpc === 'Create')!;
    const oci = (JSON.parse(create.body.ContainerConfig as string) as LinuxHostedSystem).OciSpecification;
    expect(oci.windows).toEqual({ network: { networkNamespace: nsId } });
    expect(oci.mounts.slice(-3)).toEqual([
      { destination: '/data', type: 'bind', source: '/run/gcs/c/n1/mounts/m0', options: ['rbind', 'ro'] },
      { destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: [] },
      { destination: '/etc/app.conf', type: 'bind', source: '/run/gcs/c/n1/mounts/m2/app.conf', options: ['rbind', 'rw'] },
    ]);
    // the container's namespace holds the adapter in the guest
    expect(gcs.networkOf('n1')).toEqual([adapter]);

    await driver.start('n1');
    expect((await driver.wait('n1')).exitCode).toBe(0);
    expect(await logs(driver, 'n1')).toBe('hello from the host\nport=80\n');

    const before = { hcs: sim.received.length, gcs: gcs.received.length };
    // what the guest still holds whenever HCS is asked to take a device away: the guest lets go first
    const held: [string, number, number][] = [];
    const modify = sim.modifyComputeSystem.bind(sim);
    sim.modifyComputeSystem = async (system, request) => {
      if (request.RequestType === 'Remove') held.push([request.ResourcePath!.split('/')[2]!, gcs.resources.mappedDirectories.size, [...gcs.resources.namespaces.values()].reduce((n, a) => n + a.size, 0)]);
      return modify(system, request);
    };
    await driver.delete('n1');
    expect(held).toEqual([
      ['Plan9', 1, 1],
      ['Plan9', 0, 1],
      ['NetworkAdapters', 0, 0],
    ]);
    const removed = sim.received.slice(before.hcs).filter((r) => r.call === 'HcsModifyComputeSystem').map((r) => r.document as ModifySettingRequest);
    expect(removed.map((m) => [m.RequestType, m.ResourcePath, (m.Settings as { Name?: string }).Name])).toEqual([
      ['Remove', 'VirtualMachine/Devices/Plan9/Shares', '1'],
      ['Remove', 'VirtualMachine/Devices/Plan9/Shares', '0'],
      ['Remove', nicPath, undefined],
    ]);
    const guestRemoved = gcs.received.slice(before.gcs).filter((r) => r.rpc === 'ModifySettings').map((r) => r.body.Request as { ResourceType: string; RequestType: string; Settings: Record<string, unknown> });
    expect(guestRemoved).toEqual([
      { ResourceType: 'MappedDirectory', RequestType: 'Remove', Settings: { MountPath: '/run/gcs/c/n1/mounts/m2', ShareName: '1', Port: 564 } },
      { ResourceType: 'MappedDirectory', RequestType: 'Remove', Settings: { MountPath: '/run/gcs/c/n1/mounts/m0', ShareName: '0', Port: 564 } },
      { ResourceType: 'Network', RequestType: 'Remove', Settings: { NamespaceID: nsId, ID: nicId } },
    ]);
    expect(sim.stateOf('n1@uvm')).toBeUndefined();
    expect(sim.hcn.endpoints.size).toBe(0);
    expect(sim.hcn.namespaces.size).toBe(0);
  });

  it('a bind source that does not exist fails at create with nothing left; --network none gives no adapter and no namespace', async () => {
    const { sim, driver } = setup();
    await expect(driver.create(linux('n2', { network: { mode: 'bridge' }, mounts: [{ type: 'bind', source: join(tmp('berth-lcow-'), 'missing'), destination: '/data' }] }))).rejects.toMatchObject({ code: 'InvalidArgument' });
    expect(sim.stateOf('n2@uvm')).toBeUndefined();
    expect(sim.hcn.endpoints.size).toBe(0);
    const seen = sim.received.length;
    await driver.create(linux('n3', { network: { mode: 'none' } }));
    expect(sim.received.slice(seen).filter((r) => r.call === 'HcsModifyComputeSystem' && (r.document as ModifySettingRequest).ResourcePath!.includes('NetworkAdapters'))).toEqual([]);
    const oci = (JSON.parse(sim.guestOf('n3@uvm')!.received.find((r) => r.rpc === 'Create')!.body.ContainerConfig as string) as LinuxHostedSystem).OciSpecification;
    expect(oci.windows).toBeUndefined();
    expect(sim.guestOf('n3@uvm')!.networkOf('n3')).toEqual([]);
    await driver.delete('n3');
  });

  it('a GCS that cannot add adapters to a namespace (older LinuxBootFiles) fails the create with nothing left, as hcsshim would leave it without a network', async () => {
    const { sim, driver } = setup({ guestCapabilities: { NamespaceAddRequestSupported: false } });
    await expect(driver.create(linux('n4', { network: { mode: 'bridge' } }))).rejects.toMatchObject({ code: 'Unsupported', message: expect.stringContaining('NamespaceAddRequestSupported') });
    expect(sim.stateOf('n4@uvm')).toBeUndefined();
    expect(sim.hcn.endpoints.size).toBe(0);
    expect(sim.hcn.namespaces.size).toBe(0);
    await driver.create(linux('n4', { network: { mode: 'none' } }));
    await driver.delete('n4');
  });
});
