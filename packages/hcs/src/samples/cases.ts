/**
 * The documents the drivers generate for the cases issue 13 names, from the same example
 * inputs as the references in shared/windows/samples (SOURCES.md): snapshots 12/11/10
 * as parent layers, 13 as the scratch, C:\data mapped read-only, a NAT endpoint.
 */
import type { ContainerSpec } from '@berth/runtime';
import { processContainerDocument, hostedContainerDocument } from '../builders/container.js';
import { endpointDocument, namespaceAddEndpoint, namespaceDocument, natNetwork } from '../builders/hcn.js';
import { lcowContainerRequest } from '../builders/lcow.js';
import { lcowMappedDirectoryRequest, lcowMountPath, lcowNetworkAdapter, lcowNetworkRequest, networkAdapterRequest, plan9ShareRequest } from '../builders/lcow-resources.js';
import { initProcessParameters } from '../builders/process.js';
import { lcowUvmDocument, vsmbGuestPath, wcowUvmDocument } from '../builders/uvm.js';
import type { Layer } from '../types.js';

const SNAPSHOTS = 'C:\\ProgramData\\containerd\\root\\io.containerd.snapshotter.v1.windows\\snapshots';

/** The case: two layers (one on the base), topmost first. */
export const SAMPLE_LAYERS: Layer[] = [
  { Id: '5b6c7d8e-9f0a-5b1c-8d2e-3f4a5b6c7d8e', Path: `${SNAPSHOTS}\\11` },
  { Id: '1a2b3c4d-5e6f-5a7b-8c9d-0e1f2a3b4c5d', Path: `${SNAPSHOTS}\\10` },
];
export const SAMPLE_SCRATCH_VOLUME = '\\\\?\\Volume{6a1e9d3c-4b52-4f0e-9a37-2c5d8e1f7b90}\\';
export const SAMPLE_NAMESPACE = '168f3daf-efc6-4377-b20a-2c86764ba892';
export const SAMPLE_ENDPOINT = '7a010682-17e0-4455-a838-02e5d9655fe6';
/** The LCOW case's network adapter: its instance id in the VM, the endpoint's MAC and address on `nat`. */
export const SAMPLE_NIC = '0d2b8a8e-3c1f-4a4e-9e55-8f1b2c3d4e5f';
export const SAMPLE_MAC = '00-15-5D-52-C0-0A';

/** The OCI input of the references (oci/windows-process-isolated.config.json) as a ContainerSpec. */
export function sampleSpec(): ContainerSpec {
  return {
    id: '3f4e0c1f0b6e4a0f9a3f7c2d1e5b6a7c',
    isolation: 'process',
    hostname: '3f4e0c1f0b6e',
    rootfs: { layers: [`${SNAPSHOTS}\\11`, `${SNAPSHOTS}\\10`] },
    process: { args: ['cmd', '/S', '/C', 'echo hello world'], env: ['PATH=C:\\Windows\\system32;C:\\Windows', 'FOO=bar', 'EMPTY='], cwd: 'C:\\', user: 'ContainerUser' },
    mounts: [{ type: 'bind', source: 'C:\\data', destination: 'C:\\data', readonly: true }],
    // 2 CPUs of a 4-processor host: Maximum 5000 as in the reference's cpu.maximum
    resources: { memory: 2 * 1024 * 1024 * 1024, cpus: 2e9 },
    network: { mode: 'nat', dns: { search: ['a.com', 'b.com'] } },
  };
}

export function generateSamples(): Record<string, unknown> {
  const spec = sampleSpec();
  const hyperv: ContainerSpec = { ...sampleSpec(), isolation: 'hyperv', mounts: [], resources: {}, network: { mode: 'none' } };
  const lcow: ContainerSpec = {
    ...sampleSpec(),
    platform: { os: 'linux', architecture: 'amd64' },
    isolation: 'hyperv',
    process: { args: ['/bin/sh', '-c', 'echo hello world'], env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], cwd: '/' },
    mounts: [{ type: 'bind', source: 'C:\\data', destination: '/data', readonly: true }],
    resources: {},
    network: { mode: 'nat' },
  };
  const lcowShare = { name: '0', hostPath: 'C:\\data', readonly: true };
  const lcowMount = { mountPath: lcowMountPath(lcow.id, 0), name: '0', readonly: true };
  return {
    'process.computesystem.json': processContainerDocument({ spec, layers: SAMPLE_LAYERS, scratchPath: SAMPLE_SCRATCH_VOLUME, namespaceId: SAMPLE_NAMESPACE, hostProcessors: 4 }),
    'process.processparameters.json': initProcessParameters(spec),
    'process.hcn-network.json': natNetwork({ name: 'nat', subnet: '192.168.100.0/24', gateway: '192.168.100.1' }),
    'process.hcn-endpoint.json': endpointDocument({ name: `${spec.id}-nat` }),
    'process.hcn-namespace.json': namespaceDocument(),
    'process.hcn-namespace-add-endpoint.json': namespaceAddEndpoint(SAMPLE_ENDPOINT),
    'hyperv-wcow.uvm.computesystem.json': wcowUvmDocument({ baseLayer: `${SNAPSHOTS}\\10`, scratchVhdx: `${SNAPSHOTS}\\13\\vm\\sandbox.vhdx` }),
    'hyperv-wcow.container.json': hostedContainerDocument({
      spec: hyperv,
      layers: SAMPLE_LAYERS.map((l, i) => ({ Id: l.Id, Path: vsmbGuestPath(`s${i + 1}`) })),
      scratchPath: 'c:\\mounts\\scsi\\m0',
    }),
    'lcow.uvm.computesystem.json': lcowUvmDocument({ bootFilesPath: 'C:\\Program Files\\Linux Containers' }),
    'lcow.container.json': lcowContainerRequest({ spec: lcow, mountPaths: [lcowMount.mountPath], scratchDirPath: `/run/mounts/scsi/m0/scratch/${lcow.id}`, namespaceId: SAMPLE_NAMESPACE }),
    // what precedes the container request: the endpoint as the VM's adapter and in the guest's namespace, C:\data over Plan9
    'lcow.uvm.modify-networkadapter.json': networkAdapterRequest(SAMPLE_NIC, { EndpointId: SAMPLE_ENDPOINT, MacAddress: SAMPLE_MAC }),
    'lcow.guest.network.json': lcowNetworkRequest(
      lcowNetworkAdapter({ namespaceId: SAMPLE_NAMESPACE, nicId: SAMPLE_NIC, mac: SAMPLE_MAC, ipConfigs: [{ ip: '192.168.100.2', prefixLength: 24 }], routes: [{ nextHop: '192.168.100.1', destinationPrefix: '0.0.0.0/0' }], dnsServers: ['192.168.100.1'], dnsSearch: ['a.com', 'b.com'] }),
    ),
    'lcow.uvm.modify-plan9.json': plan9ShareRequest(lcowShare),
    'lcow.guest.mapped-directory.json': lcowMappedDirectoryRequest(lcowMount),
  };
}
