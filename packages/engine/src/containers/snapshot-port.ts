import type { Readable } from 'node:stream';
import type { DiffSource } from '@berth/layer-store';

/** How the driver gets the container's root filesystem: a mount to perform. */
export interface RootfsMount {
  type: string;
  source: string;
  options: string[];
}

/** What containers need from the snapshotter (adapters/snapshots.ts fits layer-store's to it). */
export interface SnapshotPort {
  /** A writable snapshot over the committed chain `parent` (none: empty). */
  prepare(key: string, parent: string | undefined): Promise<RootfsMount[]>;
  mounts(key: string): Promise<RootfsMount[]>;
  remove(key: string): Promise<void>;
  /** Bytes in the writable layer. */
  usage(key: string): Promise<number>;
  /** Bytes and inodes in the writable layer, where the snapshotter counts both. */
  diskUsage?(key: string): Promise<{ bytes: number; inodes: number }>;
  /** What a diff reads: the overlay upper dir, full trees (native), or the snapshotter's own layer tar and change list (windowsfilter). */
  diffSource?(key: string): Promise<DiffSource>;
  /** False: the changes of a running container's snapshot cannot be read (diff and commit refuse it). */
  readonly readsRunningChanges?: boolean;
  /** The snapshot's whole tree as a tar, from a snapshotter whose mounts the host cannot mount. */
  exportTree?(key: string): Readable;
  /** A read-only view of a committed snapshot (removed with `remove`). */
  view?(key: string, parent: string | undefined): Promise<RootfsMount[]>;
  /** Keys of active (writable) snapshots. */
  list?(): Promise<string[]>;
}
