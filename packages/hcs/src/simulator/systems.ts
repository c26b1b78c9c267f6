/**
 * The checks HCS makes on HcsCreateComputeSystem documents, beyond the schema: what is
 * referenced must exist (layers, the mounted scratch, VSMB shares, boot files, the HCN
 * namespace, the hosting VM) and the image must suit the host (HCS_E_IMAGE_MISMATCH).
 */
import { HRESULT, HcsError } from '../hresult.js';
import { hcsSchemaErrors } from '../schema.js';
import type { ComputeSystem, Container, NetworkAdapter, Plan9Share, VirtualSmbShare } from '../types.js';
import { VSMB_DEVICE } from '../builders/uvm.js';
import { hcsAcceptsImage } from './compat.js';
import { basename, nameToGuid, type SimStorage } from './storage.js';
import type { SimHcn } from './hcn.js';

export type SystemState = 'Created' | 'Running' | 'Paused' | 'Stopped';

export interface SimVm {
  shares: Map<string, VirtualSmbShare>;
  scsi: Map<string, string>;
  pmem: Map<string, string>;
  /** Plan9 shares by name; network adapters by id (lowercase), each an HCN endpoint's. */
  plan9: Map<string, Plan9Share>;
  nics: Map<string, NetworkAdapter>;
  guestConnection: boolean;
}

export interface CreatePlan {
  kind: 'Container' | 'VirtualMachine';
  guestOs: 'windows' | 'linux';
  isolation: 'process' | 'hyperv';
  hostingSystemId?: string;
  vm?: SimVm;
}

export interface HostView {
  storage: SimStorage;
  hcn: SimHcn;
  hostOsVersion: string;
  processors: number;
  bootFiles: Set<string>;
  /** A running VM by id, for hosted systems. */
  vm(id: string): { state: SystemState; vm: SimVm; guestOs: 'windows' | 'linux' } | undefined;
}

const fail = (hr: number, detail: string): never => {
  throw new HcsError(hr, 'HcsCreateComputeSystem', detail);
};

function checkProcessor(p: Container['Processor'] | undefined): void {
  if (p && [p.Count, p.Maximum, p.Weight].filter((x) => x !== undefined).length > 1) fail(HRESULT.E_INVALIDARG, 'Processor Count, Maximum and Weight are mutually exclusive');
}

function lower(p: string): string {
  return p.replace(/\\+$/, '').toLowerCase();
}

export function planCreate(doc: ComputeSystem, host: HostView): CreatePlan {
  const errors = hcsSchemaErrors('ComputeSystem', doc);
  if (errors.length) fail(HRESULT.HCS_E_INVALID_JSON, errors.join('; '));
  if (doc.SchemaVersion?.Major !== 2 || (doc.SchemaVersion.Minor ?? 0) < 1) fail(HRESULT.HCS_E_UNSUPPORTED_PROTOCOL_VERSION, 'SchemaVersion 2.1 or later is required');
  const kinds = [doc.Container, doc.VirtualMachine, doc.HostedSystem].filter((x) => x !== undefined).length;
  if (kinds !== 1) fail(HRESULT.E_INVALIDARG, 'exactly one of Container, VirtualMachine and HostedSystem');

  if (doc.Container) {
    const c = doc.Container;
    checkProcessor(c.Processor);
    const scratch = host.storage.volume(c.Storage.Path);
    if (!scratch) fail(HRESULT.ERROR_PATH_NOT_FOUND, `Storage.Path ${c.Storage.Path} is not a mounted writable layer`);
    const want = scratch!.parents.map(lower);
    const got = c.Storage.Layers.map((l) => lower(l.Path));
    if (want.join('|') !== got.join('|')) fail(HRESULT.HCS_E_INVALID_LAYER, `Storage.Layers ${got.join(', ')} are not the parents of the scratch (${want.join(', ')})`);
    for (const l of c.Storage.Layers) if (l.Id.toLowerCase() !== nameToGuid(basename(l.Path))) fail(HRESULT.HCS_E_INVALID_LAYER, `${l.Id} is not the id of ${l.Path}`);
    const base = host.storage.base(c.Storage.Layers.map((l) => l.Path))!;
    if (base.os !== 'windows') fail(HRESULT.HCS_E_INVALID_LAYER, 'a process-isolated container needs a Windows base layer');
    if (!hcsAcceptsImage(host.hostOsVersion, base.osVersion, 'process')) fail(HRESULT.HCS_E_IMAGE_MISMATCH, `image ${base.osVersion} on host ${host.hostOsVersion} under process isolation`);
    if (c.Networking?.Namespace) host.hcn.namespace(c.Networking.Namespace);
    return { kind: 'Container', guestOs: 'windows', isolation: 'process' };
  }

  if (doc.VirtualMachine) {
    const vm = doc.VirtualMachine;
    if (vm.ComputeTopology.Processor.Count > host.processors) fail(HRESULT.E_INVALIDARG, `${vm.ComputeTopology.Processor.Count} processors asked, the host has ${host.processors}`);
    const shares = new Map((vm.Devices.VirtualSmb?.Shares ?? []).map((s) => [s.Name, s] as const));
    const scsi = new Map<string, string>();
    for (const ctl of Object.values(vm.Devices.Scsi ?? {})) for (const [lun, a] of Object.entries(ctl.Attachments ?? {})) scsi.set(lun, a.Path);
    const pmem = new Map(Object.entries(vm.Devices.VirtualPMem?.Devices ?? {}).map(([k, d]) => [k, d.HostPath] as const));
    let guestOs: 'windows' | 'linux';
    const kd = vm.Chipset.LinuxKernelDirect;
    const boot = vm.Chipset.Uefi?.BootThis;
    if (kd) {
      guestOs = 'linux';
      for (const f of [kd.KernelFilePath, kd.InitRdPath].filter((x): x is string => !!x)) if (!host.bootFiles.has(lower(f))) fail(HRESULT.ERROR_FILE_NOT_FOUND, `${f} does not exist`);
    } else if (boot?.DeviceType === 'VmbFs' && boot.VmbFsRootPath) {
      guestOs = 'linux';
      if (!host.bootFiles.has(lower(`${boot.VmbFsRootPath}\\${(boot.DevicePath ?? '').replace(/^\\+/, '')}`))) fail(HRESULT.ERROR_FILE_NOT_FOUND, `${boot.DevicePath} is not in ${boot.VmbFsRootPath}`);
    } else if (boot?.DeviceType === 'VmbFs') {
      guestOs = 'windows';
      const os = shares.get('os');
      if (!os) fail(HRESULT.ERROR_FILE_NOT_FOUND, 'UEFI boots from VmbFs but there is no VSMB share `os`');
      const m = /^(.*)\\UtilityVM\\Files$/i.exec(os!.Path);
      const base = m ? host.storage.layer(m[1]!) : undefined;
      if (!base?.utilityVm) fail(HRESULT.ERROR_FILE_NOT_FOUND, `${os!.Path} is not the UtilityVM\\Files of a base layer`);
      if (!hcsAcceptsImage(host.hostOsVersion, base!.osVersion, 'hyperv')) fail(HRESULT.HCS_E_IMAGE_MISMATCH, `utility VM image ${base!.osVersion} is newer than host ${host.hostOsVersion}`);
    } else {
      return fail(HRESULT.E_INVALIDARG, 'the simulator boots Windows (UEFI from VmbFs) and Linux (LinuxKernelDirect or UEFI kernel) utility VMs only');
    }
    const plan9 = new Map((vm.Devices.Plan9?.Shares ?? []).map((s) => [s.Name, s] as const));
    return { kind: 'VirtualMachine', guestOs, isolation: 'hyperv', vm: { shares, scsi, pmem, plan9, nics: new Map(), guestConnection: vm.GuestConnection !== undefined } };
  }

  // a container hosted in a utility VM, handed to HCS (which owns the guest connection)
  if (!doc.HostingSystemId) fail(HRESULT.E_INVALIDARG, 'HostedSystem needs HostingSystemId');
  const uvm = host.vm(doc.HostingSystemId!);
  if (!uvm) fail(HRESULT.HCS_E_SYSTEM_NOT_FOUND, `hosting system ${doc.HostingSystemId}`);
  if (uvm!.state !== 'Running') fail(HRESULT.HCS_E_INVALID_STATE, `hosting system ${doc.HostingSystemId} is ${uvm!.state}`);
  if (!uvm!.vm.guestConnection) fail(HRESULT.HCS_E_SYSTEM_NOT_CONFIGURED_FOR_OPERATION, 'the utility VM was created without GuestConnection: HCS holds no connection to its guest');
  const hosted = doc.HostedSystem as unknown as Record<string, unknown>;
  if (uvm!.guestOs === 'windows') {
    const errors2 = hcsSchemaErrors('HostedSystem', hosted);
    if (errors2.length) fail(HRESULT.HCS_E_INVALID_JSON, `HostedSystem: ${errors2.join('; ')}`);
    const c = (hosted as { Container?: Container }).Container;
    if (!c) fail(HRESULT.E_INVALIDARG, 'HostedSystem.Container is missing');
    checkProcessor(c!.Processor);
    const prefix = `\\\\?\\VMSMB\\VSMB-${VSMB_DEVICE}\\`.toLowerCase();
    const shareOf = (p: string) => (p.toLowerCase().startsWith(prefix) ? uvm!.vm.shares.get(p.slice(prefix.length)) : undefined);
    for (const l of c!.Storage.Layers) {
      const share = shareOf(l.Path);
      if (!share) fail(HRESULT.HCS_E_INVALID_LAYER, `${l.Path} is not a VSMB share of the utility VM`);
      if (!host.storage.layer(share!.Path)) fail(HRESULT.HCS_E_INVALID_LAYER, `share ${share!.Name} (${share!.Path}) is not a layer`);
      if (l.Id.toLowerCase() !== nameToGuid(basename(share!.Path))) fail(HRESULT.HCS_E_INVALID_LAYER, `${l.Id} is not the id of ${share!.Path}`);
    }
    for (const m of c!.MappedDirectories ?? []) if (!shareOf(m.HostPath)) fail(HRESULT.ERROR_PATH_NOT_FOUND, `${m.HostPath} is not a VSMB share of the utility VM`);
    const lun = /^c:\\mounts\\scsi\\m(\d+)$/i.exec(c!.Storage.Path);
    if (!lun || uvm!.vm.scsi.size < 2) fail(HRESULT.ERROR_PATH_NOT_FOUND, `${c!.Storage.Path} is not a SCSI disk mounted in the guest`);
    const base = host.storage.base(c!.Storage.Layers.map((l) => shareOf(l.Path)!.Path))!;
    if (!hcsAcceptsImage(host.hostOsVersion, base.osVersion, 'hyperv')) fail(HRESULT.HCS_E_IMAGE_MISMATCH, `image ${base.osVersion} is newer than host ${host.hostOsVersion}`);
    return { kind: 'Container', guestOs: 'windows', isolation: 'hyperv', hostingSystemId: doc.HostingSystemId! };
  }
  const keys = Object.keys(hosted).sort().join(',');
  if (keys !== 'OciBundlePath,OciSpecification,SchemaVersion,ScratchDirPath') fail(HRESULT.HCS_E_INVALID_JSON, `a Linux hosted system has SchemaVersion, OciBundlePath, OciSpecification and ScratchDirPath, not ${keys}`);
  const spec = hosted.OciSpecification as { process?: { args?: unknown[] }; root?: { path?: string } };
  if (!Array.isArray(spec?.process?.args) || spec.process.args.length === 0) fail(HRESULT.E_INVALIDARG, 'OciSpecification.process.args is empty');
  if (uvm!.vm.pmem.size === 0 && uvm!.vm.scsi.size === 0) fail(HRESULT.HCS_E_INVALID_LAYER, 'no layer is attached to the utility VM');
  return { kind: 'Container', guestOs: 'linux', isolation: 'hyperv', hostingSystemId: doc.HostingSystemId! };
}
