import { buildBusyboxLayout, pushLayoutWithSkopeo, startRegistry, type RunningRegistry } from '@berth/fixtures';

export interface SeededRegistry {
  registry: RunningRegistry;
  /** `127.0.0.1:PORT/busybox:latest`, pushed with skopeo from the fixtures' OCI layout. */
  busybox: string;
  stop(): Promise<void>;
}

/** A local registry (Debian's docker-registry on 127.0.0.1) holding the fixtures' busybox image. */
export async function seededRegistry(): Promise<SeededRegistry> {
  const registry = await startRegistry();
  try {
    const layout = await buildBusyboxLayout();
    const busybox = `${registry.host}/busybox:latest`;
    await pushLayoutWithSkopeo(layout.layoutDir, 'latest', busybox);
    return { registry, busybox, stop: () => registry.stop() };
  } catch (err) {
    await registry.stop();
    throw err;
  }
}
