import type { Readable } from 'node:stream';
import type { ApplyOptions, ApplyResult } from '../archive/apply.js';

export type SnapshotKind = 'active' | 'committed' | 'view';

/** One mount(8) call: `mount -t <type> -o <options> <source> <target>`. */
export interface Mount {
  type: string;
  source: string;
  options: string[];
}

export interface SnapshotInfo {
  key: string;
  parent?: string;
  kind: SnapshotKind;
  createdAt: Date;
  updatedAt: Date;
  labels: Record<string, string>;
}

export interface Usage {
  /** Bytes of disk used by this snapshot's own layer (not its parents). */
  size: number;
  inodes: number;
}

/** Where a layer is applied into an active snapshot, and how whiteouts are written. */
export interface ApplyTarget {
  dir: string;
  /** 'keep': `.wh.` entries are written as the files they are, for an importer that reads them (Windows' HcsImportLayer). */
  whiteouts: 'overlay' | 'delete' | 'keep';
  /**
   * A snapshot that takes the layer's tar itself instead of a tree in `dir` (a Linux layer
   * on Windows becomes an ext4 disk straight from the tar): applyToTarget hands it the stream.
   */
  apply?: (input: Readable, opts: ApplyOptions) => Promise<ApplyResult>;
}

/** One change of a snapshot against its parent, as the platform's daemon lists it (`docker diff`). */
export interface SnapshotChange {
  /** As the platform's daemon shows it: `/etc/x` on Linux, `Files/x` on Windows. */
  path: string;
  kind: 'modified' | 'added' | 'deleted';
}

/**
 * What a diff of an active snapshot compares. `layer-tar`: a snapshotter whose layers only
 * it can read (Windows' filter, read with HcsExportLayer) writes the layer tar itself, in
 * its platform's layer format, and lists the changes as its platform's daemon does; each
 * call reads the snapshot anew.
 */
export type DiffSource =
  | { kind: 'overlay-upper'; upper: string }
  | { kind: 'trees'; lower?: string; upper: string }
  | { kind: 'layer-tar'; tar(): Readable; changes(): Promise<SnapshotChange[]> };

/**
 * Snapshots of filesystem trees, as containerd keeps them.
 *
 * Contract:
 * - `prepare(key, parent?)` makes a writable active snapshot on top of the committed
 *   `parent` and returns the mounts that show it; `view` makes a read-only one.
 * - `commit(name, key)` turns an active snapshot into a committed one named `name`; the
 *   active key is gone. Committed snapshots are immutable and may be parents of many.
 * - Keys are unique per snapshotter (ConflictError); unknown keys raise NotFoundError;
 *   a parent must be committed (InvalidArgumentError); a snapshot with children cannot
 *   be removed (ConflictError).
 * - `remove` unmounts what is still mounted from the snapshot (even after a crash of the
 *   process that mounted it) before deleting it.
 * - Changes in a child never show in its parent or siblings (transitivity).
 */
export interface Snapshotter {
  readonly name: string;
  stat(key: string): Promise<SnapshotInfo>;
  prepare(key: string, parent?: string, opts?: { labels?: Record<string, string> }): Promise<Mount[]>;
  view(key: string, parent?: string, opts?: { labels?: Record<string, string> }): Promise<Mount[]>;
  mounts(key: string): Promise<Mount[]>;
  commit(name: string, key: string, opts?: { labels?: Record<string, string> }): Promise<void>;
  remove(key: string): Promise<void>;
  /** Every snapshot of this snapshotter, parents before children. */
  walk(): Promise<SnapshotInfo[]>;
  usage(key: string): Promise<Usage>;
  /** Where `applyLayer` writes to fill an active snapshot. */
  applyTarget(key: string): Promise<ApplyTarget>;
  /** What a diff of an active (or committed) snapshot against its parent reads. */
  diffSource(key: string): Promise<DiffSource>;
  /**
   * False when the changes of a snapshot a running container uses cannot be read (Windows'
   * filter holds the scratch): callers refuse diff and commit of a running container, as
   * dockerd on Windows does. Absent: they can.
   */
  readonly readsRunningChanges?: boolean;
  /**
   * Optional, for a snapshotter whose mounts the host cannot mount (windowsfilter): the
   * snapshot's whole tree as a tar, paths relative to the container's root (`docker export`).
   * Absent: callers mount the snapshot and read it.
   */
  exportTree?(key: string): Readable;
  close(): void;
  /** Whether `prepareDetached`/`commitDetached` work (overlay: yes; native: no). */
  readonly supportsDetached?: boolean;
  /**
   * A transient active snapshot with no parent yet, to apply a layer into while its
   * parent is still being unpacked; its tree must not depend on the parent's.
   */
  prepareDetached?(key: string, opts?: { labels?: Record<string, string> }): Promise<ApplyTarget>;
  /** Commits a detached snapshot as `name` over the committed `parent`. */
  commitDetached?(name: string, key: string, parent: string | undefined, opts?: { labels?: Record<string, string> }): Promise<void>;
}
