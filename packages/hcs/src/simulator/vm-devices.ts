/**
 * HcsModifyComputeSystem on a utility VM's devices, as HCS checks it: VSMB and Plan9
 * shares by name, SCSI and VPMem slots, network adapters by id (each backed by an HCN
 * endpoint that exists); what is added twice or removed without being there is refused.
 * On disk, a host path (disk, shared directory, the one file of a single-file share) has
 * to exist: a local path stands for a Windows one.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { HRESULT, HcsError } from '../hresult.js';
import type { HcsDefinition } from '../schema.js';
import type { ModifySettingRequest, NetworkAdapter, Plan9Share, VirtualSmbShare } from '../types.js';
import { PLAN9_FLAGS } from '../builders/lcow-resources.js';
import type { SimVm } from './systems.js';
import type { SimHcn } from './hcn.js';

const OP = 'HcsModifyComputeSystem';
const fail = (hr: number, detail: string): never => {
  throw new HcsError(hr, OP, detail);
};

export function modifyVmDevice(vm: SimVm, def: HcsDefinition, request: ModifySettingRequest, host: { onDisk: boolean; hcn: SimHcn }): void {
  const add = (request.RequestType ?? 'Add') === 'Add';
  const local = (p: string | undefined) => host.onDisk && !!p && p.startsWith('/');
  if (def === 'VirtualSmbShare') {
    const s = request.Settings as VirtualSmbShare;
    if (add && vm.shares.has(s.Name)) fail(HRESULT.ERROR_ALREADY_EXISTS, `VSMB share ${s.Name}`);
    if (add) vm.shares.set(s.Name, structuredClone(s));
    else vm.shares.delete(s.Name);
  } else if (def === 'Attachment' || def === 'VirtualPMemDevice') {
    const slot = request.ResourcePath!.split('/').pop()!;
    const map = def === 'Attachment' ? vm.scsi : vm.pmem;
    if (add && map.has(slot)) fail(HRESULT.ERROR_ALREADY_EXISTS, `${request.ResourcePath} is in use`);
    const disk = (request.Settings as { Path?: string; HostPath?: string }).Path ?? (request.Settings as { HostPath: string }).HostPath;
    if (add && local(disk) && !existsSync(disk)) fail(HRESULT.ERROR_FILE_NOT_FOUND, `${disk} does not exist`);
    if (add) map.set(slot, disk);
    else map.delete(slot);
  } else if (def === 'Plan9Share') {
    const s = request.Settings as Plan9Share;
    if (!s.Name) fail(HRESULT.E_INVALIDARG, 'a Plan9 share needs a Name');
    if (!add) {
      if (!vm.plan9.delete(s.Name)) fail(HRESULT.ERROR_NOT_FOUND, `Plan9 share ${s.Name}`);
      return;
    }
    if (vm.plan9.has(s.Name)) fail(HRESULT.ERROR_ALREADY_EXISTS, `Plan9 share ${s.Name}`);
    if (!s.Path || !s.Port) fail(HRESULT.E_INVALIDARG, `Plan9 share ${s.Name} needs a Path and a Port`);
    const restricted = ((s.Flags ?? 0) & PLAN9_FLAGS.RestrictFileAccess) !== 0;
    // hcsshim sends the allowed files with RestrictFileAccess and only then
    if (restricted !== !!s.AllowedFiles?.length) fail(HRESULT.E_INVALIDARG, `Plan9 share ${s.Name}: AllowedFiles go with the RestrictFileAccess flag`);
    if (local(s.Path)) {
      if (!existsSync(s.Path!) || !statSync(s.Path!).isDirectory()) fail(HRESULT.ERROR_PATH_NOT_FOUND, `${s.Path} is not a directory`);
      for (const f of s.AllowedFiles ?? []) if (!existsSync(join(s.Path!, f))) fail(HRESULT.ERROR_FILE_NOT_FOUND, `${f} is not in ${s.Path}`);
    }
    vm.plan9.set(s.Name, structuredClone(s));
  } else if (def === 'NetworkAdapter') {
    const id = request.ResourcePath!.split('/').pop()!.toLowerCase();
    const a = request.Settings as NetworkAdapter;
    if (!add) {
      if (!vm.nics.delete(id)) fail(HRESULT.ERROR_NOT_FOUND, `network adapter ${id}`);
      return;
    }
    if (vm.nics.has(id)) fail(HRESULT.ERROR_ALREADY_EXISTS, `network adapter ${id}`);
    const ep = host.hcn.endpoint(a.EndpointId ?? '');
    if ([...vm.nics.values()].some((n) => n.EndpointId.toLowerCase() === ep.ID)) fail(HRESULT.HCN_E_ENDPOINT_ALREADY_ATTACHED, `endpoint ${ep.ID} is already an adapter of this VM`);
    vm.nics.set(id, structuredClone(a));
  }
}
