/*
 * The documents the drivers generate (the `samples` script) against hcs-schema2.json and,
 * field by field, against the hcsshim-derived references in test/references/samples (copied from shared/windows/samples). Every
 * difference is listed below with its reason; any other difference fails.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BERTH_OWNER, generateSamples } from '../src/index.js';
import { SAMPLE_ENDPOINT, SAMPLE_MAC, SAMPLE_NAMESPACE, SAMPLE_NIC } from '../src/samples/cases.js';
import { hcsSchemaErrors, settingsDefinition, type HcsDefinition } from '../src/schema.js';
import { flatten, ociConfigErrors, reference } from './support.js';

const samples = generateSamples() as Record<string, any>;

/** The reference, changed by the differences Berth intends (each with why). */
type Adjust = (ref: any) => void;
const ownerIsBerth: Adjust = (r) => {
  // HCS records who made a compute system; hcsshim writes its shim's exe name
  r.Owner = BERTH_OWNER;
};
const outlivesBerthd: Adjust = (r) => {
  // a restarted berthd finds its compute systems again; hcsshim's shim holds the handle for the container's life
  r.ShouldTerminateOnLastHandleClosed = false;
};
const twoLayers =
  (layers: (r: any) => any[]): Adjust =>
  (r) => {
    // the case is an image of two layers; the reference has three (drop its topmost, snapshots\12)
    layers(r).shift();
  };

const cases: { file: string; def: HcsDefinition; ref: string; intended: Adjust[] }[] = [
  { file: 'process.computesystem.json', def: 'ComputeSystem', ref: 'hcs/wcow-process.computesystem.json', intended: [ownerIsBerth, outlivesBerthd, twoLayers((r) => r.Container.Storage.Layers)] },
  { file: 'process.processparameters.json', def: 'ProcessParameters', ref: 'hcs/wcow-process.processparameters.json', intended: [] },
  { file: 'hyperv-wcow.uvm.computesystem.json', def: 'ComputeSystem', ref: 'hcs/wcow-hyperv.uvm.computesystem.json', intended: [ownerIsBerth, outlivesBerthd] },
  {
    file: 'hyperv-wcow.container.json',
    def: 'HostedSystem',
    ref: 'hcs/wcow-hyperv.hosted-container.json',
    intended: [
      (r) => {
        // two layers, so VSMB shares s1 and s2; the layer ids are those of snapshots 11 and 10
        r.Container.Storage.Layers = r.Container.Storage.Layers.slice(1).map((l: any, i: number) => ({ ...l, Path: l.Path.replace(/s\d$/, `s${i + 1}`) }));
      },
    ],
  },
  { file: 'lcow.uvm.computesystem.json', def: 'ComputeSystem', ref: 'hcs/lcow.uvm.computesystem.json', intended: [ownerIsBerth, outlivesBerthd] },
];

describe('generated HCS documents', () => {
  for (const c of cases) {
    it(`${c.file} validates as ${c.def} and matches ${c.ref} but for the listed differences`, () => {
      const doc = samples[c.file];
      expect(hcsSchemaErrors(c.def, doc)).toEqual([]);
      const ref = structuredClone(reference(c.ref));
      expect(hcsSchemaErrors(c.def, ref)).toEqual([]);
      for (const a of c.intended) a(ref);
      expect(flatten(doc)).toEqual(flatten(ref));
      // key order too: hcsshim marshals struct fields in declaration order
      expect(JSON.stringify(doc)).toBe(JSON.stringify(ref));
    });
  }

  it('the HCN documents match the references but for names (Berth\'s network is `nat`; no MAC pool: HCN picks one)', () => {
    const net = structuredClone(reference('hcn/nat-network.json')) as any;
    net.Name = 'nat';
    delete net.MacPool;
    expect(samples['process.hcn-network.json']).toEqual(net);
    const ep = structuredClone(reference('hcn/endpoint.json')) as any;
    ep.Name = '3f4e0c1f0b6e4a0f9a3f7c2d1e5b6a7c-nat';
    expect(samples['process.hcn-endpoint.json']).toEqual(ep);
    expect(samples['process.hcn-namespace.json']).toEqual(reference('hcn/namespace.json'));
    expect(samples['process.hcn-namespace-add-endpoint.json']).toEqual(reference('hcn/namespace-add-endpoint.json'));
  });

  it('lcow.container.json (no reference exists: hcsshim builds it in hcsdoc_lcow.go) wraps an OCI spec that the runtime-spec v1.3.0 schema accepts', () => {
    const doc = samples['lcow.container.json'] as any;
    expect(Object.keys(doc)).toEqual(['SchemaVersion', 'OciBundlePath', 'OciSpecification', 'ScratchDirPath']);
    expect(doc.SchemaVersion).toEqual({ Major: 2, Minor: 1 });
    expect(doc.OciSpecification.root.path).toBe(`${doc.OciBundlePath}/rootfs`);
    expect(doc.OciSpecification.process.args).toEqual(['/bin/sh', '-c', 'echo hello world']);
    // C:\data is a Plan9 share the guest mounted under the container's directory in the UVM (lcow.guest.mapped-directory.json)
    expect(doc.OciSpecification.mounts.at(-1)).toEqual({ destination: '/data', type: 'bind', source: `${doc.OciBundlePath}/mounts/m0`, options: ['rbind', 'ro'] });
    expect(doc.OciSpecification.mounts.at(-1).source).toBe(samples['lcow.guest.mapped-directory.json'].Settings.MountPath);
    // of the Windows section only the HCN namespace goes to the guest (hcsshim setWindowsNetworkNamespace), the one lcow.guest.network.json fills
    expect(doc.OciSpecification.windows).toEqual({ network: { networkNamespace: SAMPLE_NAMESPACE } });
    expect(samples['lcow.guest.network.json'].Settings.NamespaceID).toBe(SAMPLE_NAMESPACE);
    // the runtime-spec schema wants windows.layerFolders wherever there is a windows section; the Linux GCS reads only the namespace from it
    const { windows: _, ...linuxOnly } = doc.OciSpecification;
    expect(ociConfigErrors(linuxOnly)).toEqual([]);
    expect(ociConfigErrors(doc.OciSpecification).join()).toContain('layerFolders');
  });

  it('the LCOW network adapter and Plan9 share requests validate as ModifySettingRequest with NetworkAdapter / Plan9Share settings, shaped as the UVM modify references', () => {
    const shape = (d: any) => ({ keys: Object.keys(d), settings: typeof d.Settings });
    for (const [file, def] of [
      ['lcow.uvm.modify-networkadapter.json', 'NetworkAdapter'],
      ['lcow.uvm.modify-plan9.json', 'Plan9Share'],
    ] as const) {
      const doc = samples[file] as any;
      expect(hcsSchemaErrors('ModifySettingRequest', doc)).toEqual([]);
      expect(hcsSchemaErrors(def, doc.Settings)).toEqual([]);
      expect(settingsDefinition(doc.ResourcePath)).toBe(def);
      expect(shape(doc)).toEqual(shape(reference('hcs/modify.uvm-vsmb-add.json')));
    }
    expect(samples['lcow.uvm.modify-networkadapter.json']).toEqual({ ResourcePath: `VirtualMachine/Devices/NetworkAdapters/${SAMPLE_NIC}`, RequestType: 'Add', Settings: { EndpointId: SAMPLE_ENDPOINT, MacAddress: SAMPLE_MAC } });
    // hcsshim AddPlan9: name = access name = a per-VM counter, port 564, LinuxMetadata|ReadOnly
    expect(samples['lcow.uvm.modify-plan9.json']).toEqual({ ResourcePath: 'VirtualMachine/Devices/Plan9/Shares', RequestType: 'Add', Settings: { Name: '0', AccessName: '0', Path: 'C:\\data', Port: 564, Flags: 5 } });
    expect(samples['lcow.guest.mapped-directory.json']).toEqual({ ResourceType: 'MappedDirectory', RequestType: 'Add', Settings: { MountPath: '/run/gcs/c/3f4e0c1f0b6e4a0f9a3f7c2d1e5b6a7c/mounts/m0', ShareName: '0', Port: 564, ReadOnly: true } });
    // guestresource.LCOWNetworkAdapter at 7c9ff7f4, field order and omitempty as Go marshals it
    expect(JSON.stringify(samples['lcow.guest.network.json'])).toBe(
      JSON.stringify({
        ResourceType: 'Network',
        RequestType: 'Add',
        Settings: { NamespaceID: SAMPLE_NAMESPACE, ID: SAMPLE_NIC, MacAddress: SAMPLE_MAC, DNSSuffix: 'a.com,b.com', DNSServerList: '192.168.100.1', IPConfigs: [{ IPAddress: '192.168.100.2', PrefixLength: 24 }], Routes: [{ NextHop: '192.168.100.1', DestinationPrefix: '0.0.0.0/0' }] },
      }),
    );
  });

  it('the schema is strict where HCS is: wrong casing and unknown fields are refused', () => {
    const doc = structuredClone(samples['process.computesystem.json']) as any;
    doc.Container.Networking.AllowUnqualifiedDNSQuery = true;
    expect(hcsSchemaErrors('ComputeSystem', doc).join()).toContain('AllowUnqualifiedDNSQuery');
    expect(hcsSchemaErrors('ProcessParameters', { CommandLine: 'x', ConsoleSize: ['24'] })).not.toEqual([]);
  });

  it('`pnpm --filter @berth/hcs samples <dir>` writes the six documents of the issue (and the HCN ones)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-hcs-samples-'));
    try {
      execFileSync('pnpm', ['--filter', '@berth/hcs', 'samples', dir], { stdio: 'pipe' });
      const files = readdirSync(dir);
      for (const f of ['process.computesystem.json', 'process.processparameters.json', 'hyperv-wcow.uvm.computesystem.json', 'hyperv-wcow.container.json', 'lcow.uvm.computesystem.json', 'lcow.container.json', 'lcow.uvm.modify-networkadapter.json', 'lcow.guest.network.json', 'lcow.uvm.modify-plan9.json', 'lcow.guest.mapped-directory.json']) {
        expect(files).toContain(f);
        expect(JSON.parse(readFileSync(join(dir, f), 'utf8'))).toEqual(samples[f]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
