import type { Engine } from '@berth/engine';
import type { RuntimeDriver } from '@berth/runtime';

/** What the CRI server needs from berthd: the engine's services and the runtime driver containers run on. */
export interface CriDeps {
  engine: Pick<Engine, 'images' | 'containers' | 'system'>;
  /** The driver the engine runs containers on (exec, attach, stats and log reopening go to it directly). */
  runtime: RuntimeDriver & { reopenLog?(id: string): Promise<void>; ociSpec?(id: string): Promise<unknown> };
  /** The engine's state root (ImageFsInfo reports its filesystem). */
  root: string;
  /** The image sandboxes run their pause process from; default the built-in `busybox`. */
  sandboxImage?: string;
  log?: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
}
