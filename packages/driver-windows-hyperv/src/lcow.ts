/**
 * An LCOW container's sandbox, as hcsshim makes it: the Linux utility VM is created
 * without `GuestConnection` (the host, not HCS, holds the connection to its GCS), the host
 * listens on the VM's GCS hvsock service (VmId = the VM's RuntimeId) before starting it,
 * accepts the GCS's connection and negotiates protocol version 4. The scratch and the
 * layers' VHDs are attached to the VM's SCSI controller through HCS and mounted in the
 * guest over the bridge (MappedVirtualDisk at /run/mounts/scsi/mN), combined into the
 * container's root (CombinedLayers at /run/gcs/c/<id>/rootfs), and the container is the
 * OCI spec in a bridge Create. The VM lives as long as the container; each run is a new
 * Create of the same spec in it.
 */
import { UnsupportedError } from '@berth/image-format';
import {
  GuestConnection,
  LCOW_ROOT_IN_UVM,
  lcowContainerRequest,
  lcowUvmDocument,
  scsiAttachRequest,
  type HcsApi,
  type HcsSystem,
  type HvsockTransport,
} from '@berth/hcs';
import type { Sandbox } from '@berth/driver-windows-process';
import type { ContainerSpec } from '@berth/runtime';
import { BridgeContainer } from './bridge-hcs.js';
import { LcowResources } from './lcow-resources.js';

/** Where the Linux GCS mounts the UVM's SCSI disk at LUN n (hcsshim guestpath LCOWGlobalScsiMountPrefixFmt). */
export const lcowScsiMount = (lun: number): string => `/run/mounts/scsi/m${lun}`;
const SCRATCH_LUN = 1;

export interface LcowSandboxInput {
  hcs: HcsApi;
  transport: HvsockTransport;
  spec: ContainerSpec;
  /** The image's layers, topmost first: their ids and ext4 disks. */
  layers: { id: string; vhd: string }[];
  /** The container's scratch disk (ext4). */
  scratchVhd: string;
  bootFilesPath: string;
  uvm: { processors?: number; memoryMB?: number };
  acceptTimeoutMs?: number;
  /** The container's HCN namespace (its endpoints become the VM's network adapters); none: no network. */
  namespaceId?: string;
}

/** The sandbox, and its VM's adapters and shares (a running container's connect adds to them). */
export async function lcowSandbox(input: LcowSandboxInput): Promise<Omit<Sandbox, 'saved'> & { resources: LcowResources }> {
  const { hcs, spec } = input;
  const uvmId = `${spec.id}@uvm`;
  const vm: HcsSystem = await hcs.createComputeSystem(uvmId, lcowUvmDocument({ bootFilesPath: input.bootFilesPath, ...input.uvm }));
  let gc: GuestConnection | undefined;
  try {
    const { RuntimeId: vmId } = await hcs.getComputeSystemProperties(vm, { PropertyTypes: [] });
    if (!vmId) throw new UnsupportedError(`HCS reported no RuntimeId for ${uvmId}: no hvsock address to listen on`);
    // before the start: the GCS dials the host as soon as it runs
    const listening = await GuestConnection.listen({ transport: input.transport, vmId, ...(input.acceptTimeoutMs ? { acceptTimeoutMs: input.acceptTimeoutMs } : {}) });
    try {
      await hcs.startComputeSystem(vm);
    } catch (e) {
      await listening.close();
      throw e;
    }
    const connection = await listening.accept();
    gc = connection;
    // as hcsshim: the network first, then the layers, then the mounts (allocateLinuxResources)
    const resources = new LcowResources(hcs, vm, connection);
    if (input.namespaceId) await resources.addNetwork(input.namespaceId, spec.network?.dns);
    const disks: { lun: number; path: string; readonly: boolean }[] = [
      { lun: SCRATCH_LUN, path: input.scratchVhd, readonly: false },
      ...input.layers.map((l, i) => ({ lun: SCRATCH_LUN + 1 + i, path: l.vhd, readonly: true })),
    ];
    for (const d of disks) {
      await hcs.modifyComputeSystem(vm, scsiAttachRequest(d.lun, d.path, d.readonly));
      await connection.modify({ ResourceType: 'MappedVirtualDisk', RequestType: 'Add', Settings: { MountPath: lcowScsiMount(d.lun), Controller: 0, Lun: d.lun, ...(d.readonly ? { ReadOnly: true } : {}) } });
    }
    const bundle = `${LCOW_ROOT_IN_UVM}/${spec.id}`;
    const scratchDirPath = `${lcowScsiMount(SCRATCH_LUN)}/scratch/${spec.id}`;
    await connection.modify({
      ResourceType: 'CombinedLayers',
      RequestType: 'Add',
      Settings: { ContainerId: spec.id, ContainerRootPath: `${bundle}/rootfs`, Layers: input.layers.map((l, i) => ({ Id: l.id, Path: lcowScsiMount(SCRATCH_LUN + 1 + i) })), ScratchPath: scratchDirPath },
    });
    await resources.addMounts(spec);
    const hosted = lcowContainerRequest({ spec, scratchDirPath, mountPaths: resources.mountPaths, ...(input.namespaceId ? { namespaceId: input.namespaceId } : {}) });
    return {
      resources,
      createSystem: async () => {
        await connection.createContainer(spec.id, hosted);
        return new BridgeContainer(spec.id, connection);
      },
      pause: () => hcs.pauseComputeSystem(vm),
      resume: () => hcs.resumeComputeSystem(vm),
      destroy: async () => {
        // the shares and adapters go before the VM, in reverse order; a guest already gone does not hold up the rest
        await resources.undo().catch(() => undefined);
        connection.close();
        await hcs.terminateComputeSystem(vm).catch(() => undefined);
        await hcs.closeComputeSystem(vm);
      },
    };
  } catch (e) {
    gc?.close();
    await hcs.terminateComputeSystem(vm).catch(() => undefined);
    await hcs.closeComputeSystem(vm).catch(() => undefined);
    throw e;
  }
}
