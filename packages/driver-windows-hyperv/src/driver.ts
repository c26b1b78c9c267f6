/**
 * Hyper-V isolation: each container gets its own utility VM (FACTS §3).
 * - WCOW: the VM boots (UEFI, VmbFs) from the base layer's `UtilityVM\Files` shared as
 *   `os`, its scratch a copy of `UtilityVM\SystemTemplate.vhdx` on SCSI 0:0; the image's
 *   layers are further VSMB shares, the container scratch a SCSI disk mounted at
 *   `c:\mounts\scsi\m1`, and the container is handed to the guest.
 * - LCOW (lcow.ts): the VM boots LinuxKernelDirect from LinuxBootFiles (kernel +
 *   initrd.img); the host holds the guest connection itself, as hcsshim does: it listens on
 *   hvsock, the GCS connects, and the container (the OCI spec), its processes and their
 *   stdio go over the bridge protocol (bridge-hcs.ts routes the core's calls there).
 * A WCOW container still reaches its guest through HCS (`HostedSystem` with
 * `HostingSystemId` on a VM made with `GuestConnection`): speaking the Windows GCS's
 * bridge is not done. Whether a current Windows build accepts that only a Windows host can say.
 * A paused container is a paused utility VM.
 */
import { copyFile as fsCopyFile, rm } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { UnsupportedError } from '@berth/image-format';
import {
  emptyExt4Vhd,
  hostedComputeSystem,
  hostedContainerDocument,
  scsiAttachRequest,
  vsmbGuestPath,
  vsmbShareRequest,
  wcowUvmDocument,
  type ComputeSystem,
  type GuestOs,
  type HcsSystem,
  type HostedSystem,
  type HvsockTransport,
  type LayerData,
} from '@berth/hcs';
import { WindowsDriverCore, folderJoin, layerData, makeScratchFolder, scratchFor, type Sandbox, type WindowsDriverOptions } from '@berth/driver-windows-process';
import type { ContainerSpec } from '@berth/runtime';
import { bridgeRoutedHcs } from './bridge-hcs.js';
import { lcowSandbox } from './lcow.js';
import type { LcowResources } from './lcow-resources.js';

export interface HypervDriverOptions extends WindowsDriverOptions {
  /** Windows folder for each container's scratch and its VM's scratch. */
  scratchRoot: string;
  /** LinuxBootFiles (kernel, initrd.img): next to berthd, or `%ProgramFiles%\Linux Containers`. */
  linuxBootFiles?: string;
  /** Utility VM size; default 2 processors, 1024 MB. */
  uvm?: { processors?: number; memoryMB?: number };
  /** Copies the base layer's SystemTemplate.vhdx to the VM's scratch (tests record instead). */
  copyFile?: (from: string, to: string) => Promise<void>;
  /**
   * Where the host listens for LCOW guests (the GCS bridge and stdio): default the real
   * AF_HYPERV sockets of @berth/hcs/koffi (Windows only); HcsSimulator.hvsock in tests.
   */
  hvsock?: HvsockTransport;
  /** How long an LCOW guest may take to connect (GCS, stdio); default 60 s. */
  guestConnectTimeoutMs?: number;
  /**
   * An LCOW container's scratch disk size (its writable space); default 4 GiB. It is a
   * fixed VHD: sparse on Linux, but on NTFS the whole size is allocated (hcsshim's 20 GB
   * scratch is a dynamically expanding VHDX, which Berth does not write).
   */
  lcowScratchBytes?: number;
}

/** ws2_32's AF_HYPERV sockets, loaded when first used (they exist on Windows only). */
const koffiHvsock: HvsockTransport = {
  async listen(address) {
    const { listenHvsock } = await import('@berth/hcs/koffi');
    return listenHvsock(address);
  },
};

const CONTAINER_SCRATCH_LUN = 1;
/** A Linux layer's disk in its layer folder, and an LCOW container's scratch in its scratch folder. */
export const LCOW_LAYER_VHD = 'layer.vhd';
export const LCOW_SCRATCH_VHD = 'sandbox.vhd';

export class WindowsHypervDriver extends WindowsDriverCore {
  readonly name = 'windows/hyperv';
  readonly platforms = [
    { os: 'windows', isolation: 'hyperv' },
    { os: 'linux', isolation: 'hyperv' },
  ] as const;
  protected readonly guestOs = 'windows' as const;
  // the scratch is a disk inside the utility VM; dockerd refuses docker cp on a running Hyper-V container with this text
  protected override readonly rootUnreachable = 'filesystem operations against a running Hyper-V container are not supported';

  /** The network adapters and shares of each LCOW container's utility VM, while the VM lives. */
  private readonly lcowResources = new Map<string, LcowResources>();

  constructor(private readonly config: HypervDriverOptions) {
    // LCOW containers live behind the bridge, not in HCS: the core's calls on them go there
    super({ ...config, hcs: bridgeRoutedHcs(config.hcs) });
    // docker network connect/disconnect: an LCOW VM takes the endpoint as a hot-added adapter
    // its guest moves into the namespace. A WCOW container is handed its HCN namespace by
    // HCS (HostedSystem Networking.Namespace), so the namespace change is all it gets.
    this.network.addLiveHook({
      added: async (id, namespaceId, endpointId) => this.lcowResources.get(id)?.addEndpoint(namespaceId, endpointId),
      removing: async (id, _ns, endpointId) => {
        const r = this.lcowResources.get(id);
        if (r?.hasEndpoint(endpointId)) await r.removeEndpoint(endpointId);
      },
    });
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
    const hcs = this.hcs;
    await makeScratchFolder(scratch);
    if (this.guestOsOf(spec) === 'linux') return this.prepareLcow(spec, data, scratch, namespaceId);
    const uvmId = `${spec.id}@uvm`;
    await hcs.initializeWritableLayer(scratch, data);
    let vm: HcsSystem | undefined;
    try {
      const size = this.config.uvm ?? {};
      const base = data.Layers[data.Layers.length - 1]!.Path;
      const uvmScratch = folderJoin(scratch, 'uvm-sandbox.vhdx');
      await (this.config.copyFile ?? fsCopyFile)(folderJoin(base, 'UtilityVM', 'SystemTemplate.vhdx'), uvmScratch);
      vm = await this.bootUvm(uvmId, wcowUvmDocument({ baseLayer: base, scratchVhdx: uvmScratch, ...size }));
      const hosted = await this.wcowContainer(vm, spec, data, scratch, namespaceId);
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

  /**
   * A Linux container: its scratch is an empty ext4 disk Berth writes (hcsshim formats one
   * inside a utility VM; HcsInitializeWritableLayer makes Windows scratches only), its
   * layers the `layer.vhd` of each layer folder; the rest is lcowSandbox's.
   */
  private async prepareLcow(spec: ContainerSpec, data: LayerData, scratch: string, namespaceId: string | undefined): Promise<Sandbox> {
    if (!this.config.linuxBootFiles) throw new UnsupportedError('Linux images need LinuxBootFiles (kernel, initrd.img) for the LCOW utility VM');
    const scratchVhd = folderJoin(scratch, LCOW_SCRATCH_VHD);
    // a Windows path on Linux (the documents-only tests) names no local folder
    const local = isAbsolute(scratch);
    const removeScratch = () => (local ? rm(scratch, { recursive: true, force: true }) : Promise.resolve());
    try {
      if (local) await emptyExt4Vhd(scratchVhd, this.config.lcowScratchBytes ?? 4 * 2 ** 30);
      const sandbox = await lcowSandbox({
        hcs: this.hcs,
        transport: this.config.hvsock ?? koffiHvsock,
        spec,
        layers: data.Layers.map((l) => ({ id: l.Id, vhd: folderJoin(l.Path, LCOW_LAYER_VHD) })),
        scratchVhd,
        bootFilesPath: this.config.linuxBootFiles,
        uvm: this.config.uvm ?? {},
        ...(this.config.guestConnectTimeoutMs ? { acceptTimeoutMs: this.config.guestConnectTimeoutMs } : {}),
        ...(namespaceId ? { namespaceId } : {}),
      });
      const saved: SavedLcow = { lcow: true, scratch, uvmId: `${spec.id}@uvm` };
      const { resources, ...rest } = sandbox;
      this.lcowResources.set(spec.id, resources);
      return {
        ...rest,
        saved,
        destroy: () => {
          // (only its own: a container made again under the same id has its own resources)
          if (this.lcowResources.get(spec.id) === resources) this.lcowResources.delete(spec.id);
          return sandbox.destroy().then(removeScratch);
        },
      };
    } catch (e) {
      await removeScratch();
      throw e;
    }
  }

  protected async reopen(spec: ContainerSpec, saved: unknown): Promise<Sandbox> {
    if ((saved as SavedLcow).lcow) return this.reopenLcow(saved as SavedLcow);
    return this.sandbox(spec, saved as Saved);
  }

  /**
   * An LCOW container cannot be taken back: its GCS bridge ended with the berthd that
   * accepted it, and the guest dials only once. What is left is its utility VM and
   * scratch, which removal ends.
   */
  private async reopenLcow(saved: SavedLcow): Promise<Sandbox> {
    const hcs = this.hcs;
    return {
      createSystem: () => Promise.reject(new UnsupportedError('an LCOW container cannot start again after berthd restarted (its guest connection is gone)')),
      saved,
      destroy: async () => {
        const vm = await hcs.openComputeSystem(saved.uvmId).catch(() => undefined);
        if (vm) {
          await hcs.terminateComputeSystem(vm).catch(() => undefined);
          await hcs.closeComputeSystem(vm);
        }
        if (isAbsolute(saved.scratch)) await rm(saved.scratch, { recursive: true, force: true });
      },
    };
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
    await this.hcs.modifyComputeSystem(vm, scsiAttachRequest(CONTAINER_SCRATCH_LUN, folderJoin(scratch, 'sandbox.vhdx')));
    return hostedContainerDocument({ spec, layers, scratchPath: `c:\\mounts\\scsi\\m${CONTAINER_SCRATCH_LUN}`, namespaceId, mountPaths });
  }

}

/** What reopen() needs: the container's scratch, its utility VM's id, the hosted system's document. */
interface Saved {
  scratch: string;
  uvmId: string;
  document: ComputeSystem;
}

/** An LCOW container's record: only enough to end its utility VM and scratch after a restart. */
interface SavedLcow {
  lcow: true;
  scratch: string;
  uvmId: string;
}
