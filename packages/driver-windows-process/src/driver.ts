/**
 * Process isolation ("Argon"): the container shares the host's kernel. The call sequence
 * of FACTS §2: layer ids (NameToGuid), the scratch initialised and mounted
 * (HcsInitializeWritableLayer, ActivateLayer/PrepareLayer/GetLayerMountPath), the
 * ComputeSystem{Container} document with the volume path, HCN namespace and limits; on
 * delete the scratch is unmounted and destroyed. Windows Server containers cannot be
 * frozen, so this driver has no pause().
 */
import { UnsupportedError } from '@berth/image-format';
import { processContainerDocument, type ComputeSystem } from '@berth/hcs';
import type { ContainerSpec } from '@berth/runtime';
import { WindowsDriverCore, type Sandbox, type WindowsDriverOptions } from './core.js';
import { layerData, makeScratchFolder, scratchFor } from './layers.js';

export interface ProcessDriverOptions extends WindowsDriverOptions {
  /** Windows folder that holds each container's scratch (e.g. `C:\ProgramData\berth\scratch`). */
  scratchRoot: string;
  /** Logical processors of the host (`--cpus` is a share of them); default 1. */
  hostProcessors?: number;
}

export class WindowsProcessDriver extends WindowsDriverCore {
  readonly name = 'windows/process';
  readonly platforms = [{ os: 'windows', isolation: 'process' }] as const;
  protected readonly guestOs = 'windows' as const;

  constructor(private readonly config: ProcessDriverOptions) {
    super(config);
  }

  protected async prepare(spec: ContainerSpec, namespaceId: string | undefined): Promise<Sandbox> {
    if (spec.isolation === 'hyperv') throw new UnsupportedError('isolation hyperv is the windows/hyperv driver\'s');
    if (spec.platform && spec.platform.os !== 'windows') throw new UnsupportedError(`a ${spec.platform.os} image needs Hyper-V isolation (LCOW)`);
    const hcs = this.hcs;
    const data = await layerData(hcs, spec);
    const scratch = scratchFor(spec, this.config.scratchRoot);
    await makeScratchFolder(scratch);
    await hcs.initializeWritableLayer(scratch, data);
    let document: ComputeSystem;
    let volume: string;
    try {
      volume = await hcs.mountWritableLayer(scratch, data);
      document = processContainerDocument({ spec, layers: data.Layers, scratchPath: volume, namespaceId, hostProcessors: this.config.hostProcessors ?? 1 });
    } catch (e) {
      await hcs.unmountWritableLayer(scratch).catch(() => undefined);
      await hcs.destroyLayer(scratch).catch(() => undefined);
      throw e;
    }
    return this.sandbox(spec, { scratch, volume, document });
  }

  protected async reopen(spec: ContainerSpec, saved: unknown): Promise<Sandbox> {
    return this.sandbox(spec, saved as Saved);
  }

  /** The scratch stays mounted from create to delete, across berthd restarts (a filter attachment of the host's). */
  private sandbox(spec: ContainerSpec, saved: Saved): Sandbox {
    const hcs = this.hcs;
    let root: string | undefined;
    try {
      root = hcs.volumeHostPath(saved.volume);
    } catch {
      root = undefined;
    }
    return {
      createSystem: () => hcs.createComputeSystem(spec.id, saved.document),
      // the host reads and writes the mounted scratch volume directly (docker cp on Windows)
      ...(root ? { root } : {}),
      saved,
      destroy: async () => {
        await hcs.unmountWritableLayer(saved.scratch);
        await hcs.destroyLayer(saved.scratch);
      },
    };
  }
}

/** What reopen() needs: the scratch folder, the volume it is mounted at, the compute system's document. */
interface Saved {
  scratch: string;
  volume: string;
  document: ComputeSystem;
}
