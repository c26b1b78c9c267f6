import type { EngineOptions } from './config.js';
import type { ContainerService, EventService, ImageService, NetworkService, SystemService, VolumeService } from './services.js';
import { UnsupportedError } from '@berth/image-format';

/**
 * One engine per root. `open` takes the root's lock (`<root>/berth.lock`; a second open of
 * the same root fails with Conflict while the first holds it), opens `<root>/berth.db`,
 * sweeps leftovers, reconciles containers with the driver (exit codes of those that exited
 * while nobody watched; running ones adopted) and applies restart policies.
 */
export class Engine {
  readonly root: string;
  readonly runRoot: string;
  readonly images!: ImageService;
  readonly containers!: ContainerService;
  readonly volumes!: VolumeService;
  readonly networks!: NetworkService;
  readonly events!: EventService;
  readonly system!: SystemService;

  private constructor(opts: EngineOptions) {
    this.root = opts.root;
    this.runRoot = opts.runRoot ?? '/run/berth';
  }

  static async open(opts: EngineOptions): Promise<Engine> {
    void new Engine(opts);
    throw new UnsupportedError('engine: not implemented yet');
  }

  /** Stops watching and releases the lock; containers keep running (conmon owns them). */
  async close(): Promise<void> {}
}
