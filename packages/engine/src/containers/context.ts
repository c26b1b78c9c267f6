import type { RuntimeDriver } from '@berth/runtime';
import type { EventBus } from '../events.js';
import type { ImageConfigLike } from '../container-config.js';
import type { LocalVolumes } from '../volumes.js';
import type { BackgroundReleases } from './background-releases.js';
import type { ContainerRecord, ContainerTable } from './record.js';
import type { SnapshotPort } from './snapshot-port.js';

export interface ResolvedImage {
  id: string;
  config: ImageConfigLike;
  chainId: string | undefined;
}

/** What containers need from the image side. */
export interface ImageLookup {
  /** The local image for a reference or ID; NotFound `No such image: <ref>`. */
  resolve(ref: string): ResolvedImage;
  /** Familiar name for ps's Image column given the stored ref and ID. */
  displayName(ref: string, imageId: string): string;
}

/** Looks up a network for a container's NetworkMode / EndpointsConfig. */
export interface NetworkLookup {
  resolve(nameOrId: string): { id: string; name: string; driver: string };
  /** False when the driver has no bridge networking (then default-network containers get `none`). */
  bridgeAvailable(): boolean;
}

export interface ContainerDeps {
  table: ContainerTable;
  driver: RuntimeDriver;
  snapshots: SnapshotPort;
  images: ImageLookup;
  networks: NetworkLookup;
  volumes: LocalVolumes;
  events: EventBus;
  root: string;
  /** The storage driver's name as inspect shows it (GraphDriver.Name). */
  storageDriverName: string;
  /** `linux` or `windows`: what dockerd's messages call the host (runtime.GOOS). */
  hostOs?: string;
  /**
   * Checks HostConfig.Isolation (for an image of `imageOs`, once known: a driver must run
   * it) and returns what inspect shows.
   */
  isolation: (value: string | undefined, imageOs?: string) => string;
  defaultStopTimeout: number;
  /** json-file-like limits of container logs (Docker's log-opts max-size / max-file). */
  logLimits?: { maxSize: number; maxFiles: number };
  /** Fills network endpoints (IP, MAC, gateway) after a start. */
  afterStart?: (r: ContainerRecord) => Promise<void>;
  /** Where auto-removed containers' resources are released after they are reported removed. */
  releases?: BackgroundReleases;
  /** daemon.json `dns`: the nameservers of default-bridge containers that name none. */
  defaultDns?: string[];
  /** daemon.json `init-path`: the binary `--init` runs (default: docker-init or catatonit). */
  initPath?: string;
}

/** Driver labels that tie a runtime container to its engine root and record (sweep finds strays by them). */
export const ROOT_LABEL = 'berth.engine.root';
export const ID_LABEL = 'berth.engine.container';

/** A process exists for the record's run (paused ones too). */
export function isRunning(r: ContainerRecord | undefined): boolean {
  return r?.state.status === 'running' || r?.state.status === 'paused';
}

/** Running, or about to be again: what rm and wait treat as alive. */
export function isActive(r: ContainerRecord): boolean {
  return isRunning(r) || r.state.status === 'restarting';
}

/**
 * What every part of the container service shares: its dependencies, the per-container
 * lock and the events it emits. One per engine.
 */
export class ContainerContext {
  /** Set when the engine closes: its database is closed too, so late callbacks stop. */
  closed = false;
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(readonly deps: ContainerDeps) {}

  get table(): ContainerTable {
    return this.deps.table;
  }

  get driver(): RuntimeDriver {
    return this.deps.driver;
  }

  emit(r: ContainerRecord, action: string, extra: Record<string, string> = {}): void {
    this.deps.events.emit('container', action, r.id, { ...(r.config.Labels ?? {}), image: r.imageRef, name: r.name, ...extra });
  }

  /** Runs `fn` after every earlier lifecycle operation on the container has settled (Docker's container lock). */
  serial<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(id, tail);
    void tail.then(() => {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    });
    return next;
  }
}

export async function withTimeout(p: Promise<unknown>, ms: number): Promise<boolean> {
  let t: NodeJS.Timeout | undefined;
  const timer = new Promise<false>((r) => (t = setTimeout(() => r(false), ms)));
  const res = await Promise.race([p.then(() => true as const), timer]);
  clearTimeout(t);
  return res;
}
