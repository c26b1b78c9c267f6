import type { CriServer } from '@berth/cri';
import type { Engine } from '@berth/engine';
import type { RuntimeDriver } from '@berth/runtime';
import { BERTH_VERSION } from './version.js';

/** daemon.json `"cri"`: serve the Kubernetes CRI beside the Docker API. */
export interface CriConfig {
  /** `unix:///run/berth/cri.sock`; the CRI is off without one. */
  address?: string;
  /** The image pod sandboxes run their pause process from (default the built-in `busybox`). */
  'sandbox-image'?: string;
  /** Where the exec/attach/port-forward streaming server listens (default 127.0.0.1, a free port). */
  'stream-server-address'?: string;
  'stream-server-port'?: number;
}

/** Starts the CRI server over the engine and the runtime driver the engine runs containers on. */
export async function startCri(
  config: CriConfig & { address: string },
  engine: Pick<Engine, 'images' | 'containers' | 'system'>,
  runtime: RuntimeDriver,
  root: string,
  log: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void },
): Promise<CriServer> {
  // loaded on demand: an idle berthd without the CRI never loads gRPC
  const { CriServer } = await import('@berth/cri');
  const server = new CriServer({
    address: config.address,
    version: BERTH_VERSION,
    engine,
    runtime,
    root,
    log,
    ...(config['sandbox-image'] ? { sandboxImage: config['sandbox-image'] } : {}),
    streamingAddress: { host: config['stream-server-address'] ?? '127.0.0.1', port: config['stream-server-port'] ?? 0 },
  });
  await server.start();
  return server;
}
