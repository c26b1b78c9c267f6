/**
 * Hyper-V isolation: each container gets its own utility VM (FACTS §3).
 * - WCOW: the VM boots (UEFI, VmbFs) from the base layer's `UtilityVM\Files` shared as
 *   `os`, its scratch a copy of `UtilityVM\SystemTemplate.vhdx` on SCSI 0:0; the image's
 *   layers are further VSMB shares, the container scratch a SCSI disk mounted at
 *   `c:\mounts\scsi\m1`, and the container is handed to the guest.
 * - LCOW: the VM boots LinuxKernelDirect from LinuxBootFiles (kernel + initrd.img); the
 *   layers' `layer.vhd` and the scratch are SCSI disks; the guest gets the OCI spec
 *   (lcowContainerRequest, the body of the bridge's ContainerCreate).
 * The container reaches the guest through HCS (`HostedSystem` with `HostingSystemId` on a
 * VM made with `GuestConnection`), the path HcsSimulator models; hcsshim instead speaks
 * the bridge itself over hvsock (GcsBridge in @berth/hcs holds that protocol). Which of the
 * two a current Windows build accepts only a Windows host can say.
 * A paused container is a paused utility VM.
 */
import { copyFile as fsCopyFile } from 'node:fs/promises';
import { UnsupportedError } from '@berth/image-format';
import {
  hostedComputeSystem,
  hostedContainerDocument,
  lcowContainerRequest,
  lcowUvmDocument,
  scsiAttachRequest,
  vsmbGuestPath,
  vsmbShareRequest,
  wcowUvmDocument,
  winJoin,
  type ComputeSystem,
  type GuestOs,
  type HcsSystem,
  type HostedSystem,
  type LayerData,
} from '@berth/hcs';
import { WindowsDriverCore, folderJoin, layerData, makeScratchFolder, scratchFor, type Sandbox, type WindowsDriverOptions } from '@berth/driver-windows-process';
import type { ContainerSpec } from '@berth/runtime';

export interface HypervDriverOptions extends WindowsDriverOptions {
  /** Windows folder for each container's scratch and its VM's scratch. */
  scratchRoot: string;
  /** LinuxBootFiles (kernel, initrd.img): next to berthd, or `%ProgramFiles%\Linux Containers`. */
  linuxBootFiles?: string;
  /** Utility VM size; default 2 processors, 1024 MB. */
  uvm?: { processors?: number; memoryMB?: number };
  /** Copies the base layer's SystemTemplate.vhdx to the VM's scratch (tests record instead). */
  copyFile?: (from: string, to: string) => Promise<void>;
}

const CONTAINER_SCRATCH_LUN = 1;

export class WindowsHypervDriver extends WindowsDriverCore {
  readonly name = 'windows/hyperv';
  readonly platforms = [
    { os: 'windows', isolation: 'hyperv' },
    { os: 'linux', isolation: 'hyperv' },
  ] as const;
  protected readonly guestOs = 'windows' as const;
  // the scratch is a disk inside the utility VM; dockerd refuses docker cp on a running Hyper-V container with this text
  protected override readonly rootUnreachable = 'filesystem operations against a running Hyper-V container are not supported';

  constructor(private readonly config: HypervDriverOptions) {
    super(config);
  }

  protected override guestOsOf(spec: ContainerSpec): GuestOs {
    return spec.platform?.os === 'linux' ? 'linux' : 'windows';
  }

  pause(id: string): Promise<void> {
    return this.pauseContainer(id);
  }

  unpause(id: string): Promise<void> {
    return this.unpauseContainer(id);
  }

  /** The utility VM: created, started; torn down when anything after fails. */
  private async bootUvm(id: string, doc: ComputeSystem): Promise<HcsSystem> {
    // HCS holds the guest connection, so the container can be handed over as a HostedSystem
    doc.VirtualMachine!.GuestConnection = {};
    const vm = await this.hcs.createComputeSystem(id, doc);
    try {
      await this.hcs.startComputeSystem(vm);
    } catch (e) {
      await this.hcs.closeComputeSystem(vm).catch(() => undefined);
      throw e;
    }
    return vm;
  }

  protected async prepare(spec: ContainerSpec, namespaceId: string | undefined): Promise<Sandbox> {
    if (spec.isolation === 'process') throw new UnsupportedError('isolation process is the windows/process driver\'s');
    const data = await layerData(this.hcs, spec);
    const scratch = scratchFor(spec, this.config.scratchRoot);
    const uvmId = `${spec.id}@uvm`;
    const hcs = this.hcs;
    await makeScratchFolder(scratch);
    await hcs.initializeWritableLayer(scratch, data);
    let vm: HcsSystem | undefined;
    try {
      const size = this.config.uvm ?? {};
      let hosted: HostedSystem;
      if (this.guestOsOf(spec) === 'linux') {
        if (!this.config.linuxBootFiles) throw new UnsupportedError('Linux images need LinuxBootFiles (kernel, initrd.img) for the LCOW utility VM');
        vm = await this.bootUvm(uvmId, lcowUvmDocument({ bootFilesPath: this.config.linuxBootFiles, ...size }));
        hosted = await this.lcowContainer(vm, spec, data, scratch);
      } else {
        const base = data.Layers[data.Layers.length - 1]!.Path;
        const uvmScratch = folderJoin(scratch, 'uvm-sandbox.vhdx');
        await (this.config.copyFile ?? fsCopyFile)(folderJoin(base, 'UtilityVM', 'SystemTemplate.vhdx'), uvmScratch);
        vm = await this.bootUvm(uvmId, wcowUvmDocument({ baseLayer: base, scratchVhdx: uvmScratch, ...size }));
        hosted = await this.wcowContainer(vm, spec, data, scratch, namespaceId);
      }
      return this.sandbox(spec, { scratch, uvmId, document: hostedComputeSystem(uvmId, hosted) }, vm);
    } catch (e) {
      if (vm) {
        await hcs.terminateComputeSystem(vm).catch(() => undefined);
        await hcs.closeComputeSystem(vm).catch(() => undefined);
      }
      await hcs.destroyLayer(scratch).catch(() => undefined);
      throw e;
    }
  }

  protected async reopen(spec: ContainerSpec, saved: unknown): Promise<Sandbox> {
    return this.sandbox(spec, saved as Saved);
  }

  /** The utility VM outlives berthd as the container does; after a restart it is opened again by id when first needed. */
  private sandbox(spec: ContainerSpec, saved: Saved, vm?: HcsSystem): Sandbox {
    const hcs = this.hcs;
    let uvm: Promise<HcsSystem> | undefined = vm ? Promise.resolve(vm) : undefined;
    const theVm = () => (uvm ??= hcs.openComputeSystem(saved.uvmId));
    return {
      createSystem: () => hcs.createComputeSystem(spec.id, saved.document),
      pause: async () => hcs.pauseComputeSystem(await theVm()),
      resume: async () => hcs.resumeComputeSystem(await theVm()),
      saved,
      destroy: async () => {
        const h = await theVm().catch(() => undefined);
        if (h) {
          await hcs.terminateComputeSystem(h).catch(() => undefined);
          await hcs.closeComputeSystem(h);
        }
        await hcs.destroyLayer(saved.scratch);
      },
      close: async () => {
        const h = await uvm?.catch(() => undefined);
        if (h) await hcs.closeComputeSystem(h);
      },
    };
  }

  /** Layers and mapped directories as VSMB shares, the scratch on SCSI: the container as the WCOW guest sees it. */
  private async wcowContainer(vm: HcsSystem, spec: ContainerSpec, data: LayerData, scratch: string, namespaceId: string | undefined): Promise<HostedSystem> {
    const layers = [];
    for (const [i, l] of data.Layers.entries()) {
      const name = `s${i + 1}`;
      await this.hcs.modifyComputeSystem(vm, vsmbShareRequest({ name, path: l.Path }));
      layers.push({ Id: l.Id, Path: vsmbGuestPath(name) });
    }
    const mountPaths: string[] = [];
    for (const [i, m] of (spec.mounts ?? []).entries()) {
      if (m.type === 'tmpfs' || !m.source) continue;
      const name = `m${i + 1}`;
      await this.hcs.modifyComputeSystem(vm, vsmbShareRequest({ name, path: m.source, readonly: !!m.readonly }));
      mountPaths[i] = vsmbGuestPath(name);
    }
    await this.hcs.modifyComputeSystem(vm, scsiAttachRequest(CONTAINER_SCRATCH_LUN, winJoin(scratch, 'sandbox.vhdx')));
    return hostedContainerDocument({ spec, layers, scratchPath: `c:\\mounts\\scsi\\m${CONTAINER_SCRATCH_LUN}`, namespaceId, mountPaths });
  }

  /** Layer VHDs read-only on SCSI after the scratch; the OCI spec for the Linux guest. */
  private async lcowContainer(vm: HcsSystem, spec: ContainerSpec, data: LayerData, scratch: string): Promise<HostedSystem> {
    if ((spec.mounts ?? []).some((m) => m.type !== 'tmpfs')) throw new UnsupportedError('host directories in LCOW containers (Plan9 shares) are not supported yet');
    await this.hcs.modifyComputeSystem(vm, scsiAttachRequest(CONTAINER_SCRATCH_LUN, winJoin(scratch, 'sandbox.vhdx')));
    for (const [i, l] of data.Layers.entries()) await this.hcs.modifyComputeSystem(vm, scsiAttachRequest(CONTAINER_SCRATCH_LUN + 1 + i, winJoin(l.Path, 'layer.vhd'), true));
    const request = lcowContainerRequest({ spec, scratchDirPath: `/run/gcs/c/${spec.id}/scratch` });
    return request as unknown as HostedSystem;
  }
}

/** What reopen() needs: the container's scratch, its utility VM's id, the hosted system's document. */
interface Saved {
  scratch: string;
  uvmId: string;
  document: ComputeSystem;
}
