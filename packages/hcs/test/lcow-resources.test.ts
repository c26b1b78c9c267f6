/*
 * LCOW network adapters and Plan9 shares, host and guest, against the simulator: the
 * documents hcsshim sends (HCS: NetworkAdapter, Plan9Share, schema-validated; GCS:
 * Network, MappedDirectory) and what HCS and the Linux GCS refuse: an adapter whose HCN
 * endpoint does not exist or is already the VM's, a guest adapter the VM does not have,
 * the same adapter twice in a namespace, a misspelled field, a 9p mount of a share the VM
 * does not serve, a container whose bind source is nowhere in the UVM. A file of a host
 * directory behind a share is what the container reads at the bind's destination.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import {
  GuestConnection,
  endpointDocument,
  lcowContainerRequest,
  lcowMappedDirectoryRequest,
  lcowMountPath,
  lcowNetworkAdapter,
  lcowNetworkRequest,
  lcowUvmDocument,
  namespaceAddEndpoint,
  namespaceDocument,
  natNetwork,
  networkAdapterRequest,
  plan9ShareRequest,
  scsiAttachRequest,
  type HcsSystem,
} from '../src/index.js';
import { HcsSimulator, hcsSchemaErrors } from '../src/simulator/index.js';

const BOOT = 'C:\\lcow';
const NET = '11111111-2222-4333-8444-555555555555';
const EP = '7a010682-17e0-4455-a838-02e5d9655fe6';
const NS = '168f3daf-efc6-4377-b20a-2c86764ba892';
const NIC = '0d2b8a8e-3c1f-4a4e-9e55-8f1b2c3d4e5f';
const MAC = '00-15-5D-AA-BB-CC';
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

async function connected() {
  const sim = new HcsSimulator();
  sim.addLinuxBootFiles(BOOT);
  const vm = await sim.createComputeSystem('u1', lcowUvmDocument({ bootFilesPath: BOOT }));
  const { RuntimeId } = await sim.getComputeSystemProperties(vm, { PropertyTypes: [] });
  const listening = await GuestConnection.listen({ transport: sim.hvsock, vmId: RuntimeId!, acceptTimeoutMs: 2000 });
  await sim.startComputeSystem(vm);
  const gc = await listening.accept();
  await sim.createNetwork(NET, natNetwork({ name: 'nat', subnet: '172.30.0.0/24', gateway: '172.30.0.1' }));
  await sim.createEndpoint(NET, EP, endpointDocument({ name: 'c1-nat', ipAddress: '172.30.0.2', prefixLength: 24, mac: MAC }));
  await sim.createNamespace(NS, namespaceDocument());
  await sim.modifyNamespace(NS, namespaceAddEndpoint(EP));
  return { sim, vm, gc };
}

const adapter = lcowNetworkAdapter({ namespaceId: NS, nicId: NIC, mac: MAC, ipConfigs: [{ ip: '172.30.0.2', prefixLength: 24 }], routes: [{ nextHop: '172.30.0.1', destinationPrefix: '0.0.0.0/0' }], dnsServers: ['172.30.0.1'], dnsSearch: ['Corp.Example'] });

async function withLayers(sim: HcsSimulator, vm: HcsSystem, gc: GuestConnection, id: string) {
  await sim.modifyComputeSystem(vm, scsiAttachRequest(1, 'C:\\s\\sandbox.vhd'));
  await sim.modifyComputeSystem(vm, scsiAttachRequest(2, 'C:\\l\\layer.vhd', true));
  await gc.modify({ ResourceType: 'MappedVirtualDisk', RequestType: 'Add', Settings: { MountPath: '/run/mounts/scsi/m1', Controller: 0, Lun: 1 } });
  await gc.modify({ ResourceType: 'MappedVirtualDisk', RequestType: 'Add', Settings: { MountPath: '/run/mounts/scsi/m2', Controller: 0, Lun: 2, ReadOnly: true } });
  await gc.modify({ ResourceType: 'CombinedLayers', RequestType: 'Add', Settings: { ContainerId: id, ContainerRootPath: `/run/gcs/c/${id}/rootfs`, Layers: [{ Id: '00000000-0000-0000-0000-000000000001', Path: '/run/mounts/scsi/m2' }], ScratchPath: `/run/mounts/scsi/m1/scratch/${id}` } });
}

async function output(gc: GuestConnection, id: string): Promise<string> {
  await gc.startContainer(id);
  const p = await gc.exec(id, { CreateStdOutPipe: true, CreateStdErrPipe: true });
  const chunks: Buffer[] = [];
  for await (const c of p.stdout as Readable) chunks.push(c as Buffer);
  expect(await p.exited).toBe(0);
  return Buffer.concat(chunks).toString();
}

describe('LCOW network adapters and Plan9 shares in the simulator', () => {
  it('the documents are hcsshim\'s: NetworkAdapter and Plan9Share validate against hcs-schema2.json; the guest adapter carries addresses, gateway route and DNS', () => {
    const nic = networkAdapterRequest(NIC, { EndpointId: EP, MacAddress: MAC });
    expect(JSON.stringify(nic)).toBe(JSON.stringify({ ResourcePath: `VirtualMachine/Devices/NetworkAdapters/${NIC}`, RequestType: 'Add', Settings: { EndpointId: EP, MacAddress: MAC } }));
    expect(hcsSchemaErrors('ModifySettingRequest', nic)).toEqual([]);
    expect(hcsSchemaErrors('NetworkAdapter', nic.Settings)).toEqual([]);
    const dir = plan9ShareRequest({ name: '0', hostPath: 'C:\\data', readonly: true });
    expect(dir.Settings).toEqual({ Name: '0', AccessName: '0', Path: 'C:\\data', Port: 564, Flags: 0x5 });
    const file = plan9ShareRequest({ name: '1', hostPath: 'C:\\cfg', readonly: false, file: 'app.conf' });
    expect(file.Settings).toEqual({ Name: '1', AccessName: '1', Path: 'C:\\cfg', Port: 564, Flags: 0x84, AllowedFiles: ['app.conf'] });
    expect(plan9ShareRequest({ name: '1', hostPath: 'C:\\cfg', readonly: false }, 'Remove').Settings).toEqual({ Name: '1', AccessName: '1', Port: 564 });
    for (const r of [dir, file]) expect(hcsSchemaErrors('Plan9Share', r.Settings)).toEqual([]);
    expect(hcsSchemaErrors('Plan9Share', { Name: '0', ReadOnly: true }).join()).toContain('ReadOnly');
    expect(adapter).toEqual({ NamespaceID: NS, ID: NIC, MacAddress: MAC, DNSSuffix: 'corp.example', DNSServerList: '172.30.0.1', IPConfigs: [{ IPAddress: '172.30.0.2', PrefixLength: 24 }], Routes: [{ NextHop: '172.30.0.1', DestinationPrefix: '0.0.0.0/0' }] });
    expect(lcowNetworkRequest(adapter, 'Remove')).toEqual({ ResourceType: 'Network', RequestType: 'Remove', Settings: { NamespaceID: NS, ID: NIC } });
    expect(lcowMappedDirectoryRequest({ mountPath: lcowMountPath('c1', 0), name: '0', readonly: true })).toEqual({ ResourceType: 'MappedDirectory', RequestType: 'Add', Settings: { MountPath: '/run/gcs/c/c1/mounts/m0', ShareName: '0', Port: 564, ReadOnly: true } });
  });

  it('HCS refuses an adapter of an unknown endpoint, one endpoint twice, a misspelled field; the guest an adapter the VM lacks and the same adapter twice', async () => {
    const { sim, vm, gc } = await connected();
    // as hcsshim's Linux GCS, it says it takes adapters into namespaces (hcsshim sends Network requests only then)
    expect(gc.bridge.capabilities?.GuestDefinedCapabilities).toEqual({ NamespaceAddRequestSupported: true, SignalProcessSupported: true, DumpStacksSupported: true, DeleteContainerStateSupported: true });
    await expect(gc.modify(lcowNetworkRequest(adapter))).rejects.toMatchObject({ code: 'ERROR_NOT_FOUND' });
    await expect(sim.modifyComputeSystem(vm, networkAdapterRequest(NIC, { EndpointId: '99999999-2222-4333-8444-555555555555' }))).rejects.toMatchObject({ code: 'HCN_E_ENDPOINT_NOT_FOUND' });
    await expect(sim.modifyComputeSystem(vm, { ...networkAdapterRequest(NIC, { EndpointId: EP }), Settings: { EndpointID: EP } })).rejects.toMatchObject({ code: 'HCS_E_INVALID_JSON' });
    await sim.modifyComputeSystem(vm, networkAdapterRequest(NIC, { EndpointId: EP, MacAddress: MAC }));
    await expect(sim.modifyComputeSystem(vm, networkAdapterRequest('0d2b8a8e-3c1f-4a4e-9e55-000000000000', { EndpointId: EP }))).rejects.toMatchObject({ code: 'HCN_E_ENDPOINT_ALREADY_ATTACHED' });
    await expect(gc.modify({ ResourceType: 'Network', RequestType: 'Add', Settings: { ...adapter, IPAddress: '172.30.0.2' } })).rejects.toThrow(/unknown field\(s\) IPAddress/);
    await gc.modify(lcowNetworkRequest(adapter));
    await expect(gc.modify(lcowNetworkRequest(adapter))).rejects.toThrow(/already present in namespace/);
    const guest = sim.guestOf('u1')!;
    expect([...guest.resources.namespaces.get(NS)!.values()]).toEqual([adapter]);
    // a container naming the namespace sees the adapter; removal goes guest first, then the VM's device
    await withLayers(sim, vm, gc, 'c1');
    await gc.createContainer('c1', lcowContainerRequest({ spec: { id: 'c1', rootfs: { layers: ['C:\\l'] }, process: { args: ['true'] } }, scratchDirPath: '/run/mounts/scsi/m1/scratch/c1', namespaceId: NS }));
    expect(guest.networkOf('c1')).toEqual([adapter]);
    await gc.modify(lcowNetworkRequest(adapter, 'Remove'));
    // the guest skips what it does not have, as hcsshim's does
    await gc.modify(lcowNetworkRequest(adapter, 'Remove'));
    expect(guest.networkOf('c1')).toEqual([]);
    await sim.modifyComputeSystem(vm, networkAdapterRequest(NIC, { EndpointId: EP, MacAddress: MAC }, 'Remove'));
    await expect(sim.modifyComputeSystem(vm, networkAdapterRequest(NIC, { EndpointId: EP }, 'Remove'))).rejects.toMatchObject({ code: 'ERROR_NOT_FOUND' });
    gc.close();
    await sim.terminateComputeSystem(vm);
  });

  it('a host directory and a single host file through Plan9: the container reads them at the binds\' destinations; a bind source the UVM lacks is refused at create', async () => {
    const host = mkdtempSync(join(tmpdir(), 'berth-p9-'));
    dirs.push(host);
    writeFileSync(join(host, 'hello.txt'), 'from the host share\n');
    writeFileSync(join(host, 'app.conf'), 'single=file\n');
    writeFileSync(join(host, 'hidden.txt'), 'not in the single-file share\n');
    const { sim, vm, gc } = await connected();
    await withLayers(sim, vm, gc, 'c2');
    // the guest cannot mount a share the VM does not serve
    await expect(gc.modify(lcowMappedDirectoryRequest({ mountPath: lcowMountPath('c2', 0), name: '0', readonly: true }))).rejects.toMatchObject({ code: 'ERROR_PATH_NOT_FOUND' });
    await sim.modifyComputeSystem(vm, plan9ShareRequest({ name: '0', hostPath: host, readonly: true }));
    await expect(sim.modifyComputeSystem(vm, plan9ShareRequest({ name: '0', hostPath: host, readonly: true }))).rejects.toMatchObject({ code: 'ERROR_ALREADY_EXISTS' });
    await sim.modifyComputeSystem(vm, plan9ShareRequest({ name: '1', hostPath: host, readonly: false, file: 'app.conf' }));
    await gc.modify(lcowMappedDirectoryRequest({ mountPath: lcowMountPath('c2', 0), name: '0', readonly: true }));
    await gc.modify(lcowMappedDirectoryRequest({ mountPath: lcowMountPath('c2', 1), name: '1', readonly: false }));
    const spec = (args: string[], mountPaths: string[]) =>
      lcowContainerRequest({
        spec: { id: 'c2', rootfs: { layers: ['C:\\l'] }, process: { args }, mounts: [{ type: 'bind', source: host, destination: '/data', readonly: true }, { type: 'bind', source: join(host, 'app.conf'), destination: '/etc/app.conf' }] },
        scratchDirPath: '/run/mounts/scsi/m1/scratch/c2',
        mountPaths,
      });
    // a file the single-file share does not allow is not in the UVM
    await expect(gc.createContainer('c2', spec(['true'], [lcowMountPath('c2', 0), `${lcowMountPath('c2', 1)}/hidden.txt`]))).rejects.toMatchObject({ code: 'ERROR_PATH_NOT_FOUND' });
    const hosted = spec(['cat', '/data/hello.txt', '/etc/app.conf'], [lcowMountPath('c2', 0), `${lcowMountPath('c2', 1)}/app.conf`]);
    expect(hosted.OciSpecification.mounts.slice(-2)).toEqual([
      { destination: '/data', type: 'bind', source: '/run/gcs/c/c2/mounts/m0', options: ['rbind', 'ro'] },
      { destination: '/etc/app.conf', type: 'bind', source: '/run/gcs/c/c2/mounts/m1/app.conf', options: ['rbind', 'rw'] },
    ]);
    await gc.createContainer('c2', hosted);
    expect(await output(gc, 'c2')).toBe('from the host share\nsingle=file\n');
    await gc.modify(lcowMappedDirectoryRequest({ mountPath: lcowMountPath('c2', 1), name: '1', readonly: false }, 'Remove'));
    await expect(gc.modify(lcowMappedDirectoryRequest({ mountPath: lcowMountPath('c2', 1), name: '1', readonly: false }, 'Remove'))).rejects.toMatchObject({ code: 'ERROR_NOT_FOUND' });
    await sim.modifyComputeSystem(vm, plan9ShareRequest({ name: '1', hostPath: host, readonly: false }, 'Remove'));
    gc.close();
    await sim.terminateComputeSystem(vm);
  });
});
