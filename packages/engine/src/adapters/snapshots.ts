import type { RootfsMount, SnapshotPort } from '../containers/snapshot-port.js';

/** The part of layer-store's Snapshotter contract the engine uses (structural, so the engine builds while layer-store's surface grows). */
export interface SnapshotterLike {
  readonly name: string;
  stat(key: string): Promise<{ key: string; parent?: string; kind: string; labels?: Record<string, string> }>;
  prepare(key: string, parent?: string, opts?: { labels?: Record<string, string> }): Promise<RootfsMount[]>;
  view(key: string, parent?: string, opts?: { labels?: Record<string, string> }): Promise<RootfsMount[]>;
  mounts(key: string): Promise<RootfsMount[]>;
  commit(name: string, key: string, opts?: { labels?: Record<string, string> }): Promise<void>;
  remove(key: string): Promise<void>;
  walk(): Promise<{ key: string; parent?: string; kind: string }[]>;
  usage(key: string): Promise<{ size: number; inodes: number }>;
  applyTarget(key: string): Promise<{ dir: string; whiteouts: 'overlay' | 'delete' }>;
  diffSource(key: string): Promise<{ kind: 'overlay-upper'; upper: string } | { kind: 'trees'; lower?: string; upper: string }>;
  close(): void;
}

/** SnapshotPort over a layer-store Snapshotter; image layers are committed snapshots keyed by chainID. */
export class SnapshotterPort implements SnapshotPort {
  constructor(readonly snapshotter: SnapshotterLike) {}

  async prepare(key: string, parent: string | undefined): Promise<RootfsMount[]> {
    return this.snapshotter.prepare(key, parent, { labels: { 'berth.engine/kind': 'container' } });
  }

  async mounts(key: string): Promise<RootfsMount[]> {
    return this.snapshotter.mounts(key);
  }

  async remove(key: string): Promise<void> {
    await this.snapshotter.remove(key);
  }

  diffSource(key: string): ReturnType<SnapshotterLike['diffSource']> {
    return this.snapshotter.diffSource(key);
  }

  view(key: string, parent: string | undefined): Promise<RootfsMount[]> {
    return this.snapshotter.view(key, parent, { labels: { 'berth.layer-store/transient': String(process.pid) } });
  }

  async list(): Promise<string[]> {
    return (await this.snapshotter.walk()).filter((s) => s.kind === 'active').map((s) => s.key);
  }

  async usage(key: string): Promise<number> {
    return (await this.snapshotter.usage(key)).size;
  }
}
