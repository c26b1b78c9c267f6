import type { Readable } from 'node:stream';
import type { DiffSource, Snapshotter } from '@berth/layer-store';
import type { RootfsMount, SnapshotPort } from '../containers/snapshot-port.js';

/** SnapshotPort over a layer-store Snapshotter; image layers are committed snapshots keyed by chainID. */
export class SnapshotterPort implements SnapshotPort {
  constructor(readonly snapshotter: Snapshotter) {}

  get readsRunningChanges(): boolean {
    return this.snapshotter.readsRunningChanges ?? true;
  }

  get exportTree(): ((key: string) => Readable) | undefined {
    const sn = this.snapshotter;
    return sn.exportTree ? (key) => sn.exportTree!(key) : undefined;
  }

  async prepare(key: string, parent: string | undefined): Promise<RootfsMount[]> {
    return this.snapshotter.prepare(key, parent, { labels: { 'berth.engine/kind': 'container' } });
  }

  async mounts(key: string): Promise<RootfsMount[]> {
    return this.snapshotter.mounts(key);
  }

  async remove(key: string): Promise<void> {
    await this.snapshotter.remove(key);
  }

  diffSource(key: string): Promise<DiffSource> {
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

  async diskUsage(key: string): Promise<{ bytes: number; inodes: number }> {
    const u = await this.snapshotter.usage(key);
    return { bytes: u.size, inodes: u.inodes };
  }
}
