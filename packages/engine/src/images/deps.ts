import type { Readable } from 'node:stream';
import type { Descriptor, Digest } from '@berth/image-format';
import type { ContentStore, LayerChainUnpacker, Snapshotter } from '@berth/layer-store';
import type { RegistryClient } from '@berth/registry-client';
import type { ContainerConfig, RegistryAuth } from '../docker-types.js';
import type { EventBus } from '../events.js';
import type { HostOs } from './host-os.js';
import type { ImageTable } from './table.js';

export interface StorageDeps {
  content: ContentStore;
  snapshotter: Snapshotter;
  /** layer-store's unpackLayer: applies a stored blob over `parent`, committed under its chainID (idempotent). */
  unpack(layer: Descriptor, parent: Digest | undefined, diffId?: Digest): Promise<{ chainId: Digest; diffId: Digest; applied: boolean }>;
  /** A new layer-store LayerChainUnpacker over the engine's store and snapshotter. */
  chainUnpacker(opts: { onLayerDone?: (index: number, res: { chainId: Digest; diffId: Digest; applied: boolean; size?: number }) => void }): LayerChainUnpacker;
  /** layer-store's applyLayer: a layer stream into a directory (overlay whiteouts or deletions). */
  applyLayer(input: Readable, root: string, opts: { compression: 'none' | 'gzip' | 'zstd'; whiteouts: 'overlay' | 'delete' | 'keep'; expectedDiffId?: Digest }): Promise<{ diffId: Digest; size: number }>;
  /** layer-store's createDiff: the snapshot's changes as a gzip layer blob in the content store. */
  diff(key: string): Promise<{ descriptor: Descriptor; diffId: Digest }>;
}

export interface ContainerUse {
  id: string;
  running: boolean;
}

/** What commit needs to know about a container. */
export interface CommitSource {
  id: string;
  imageId: string;
  snapshotKey: string;
  config: ContainerConfig;
  running: boolean;
  /** Running, paused or restarting: what dockerd's IsRunning() says. */
  live: boolean;
  pause(): Promise<void>;
  unpause(): Promise<void>;
}

export interface ImageDeps {
  table: ImageTable;
  storage: StorageDeps;
  events: EventBus;
  root: string;
  /** Settles when removed containers' snapshots (children of image layers) are released. */
  released?: () => Promise<void>;
  /** Containers that use an image. */
  usedBy(imageId: string): ContainerUse[];
  commitSource(container: string): CommitSource;
  /** A registry client, with per-call credentials when given. */
  registry(auth?: RegistryAuth, serverFromRef?: string): { client: RegistryClient; release(): Promise<void> };
  /** Builds the built-in busybox image as an OCI layout in `dir`; returns the ref name inside. */
  buildBusybox(dir: string): Promise<string>;
  /** Blobs of one pull downloaded at once (daemon.json's max-concurrent-downloads). */
  maxConcurrentDownloads?: number;
  /** Apply layers from the download stream rather than once each blob is stored (default). */
  applyWhileDownloading?: boolean;
  /** The OSes the runtime drivers run: images of others are refused as dockerd refuses them (none: every image is taken). */
  hostOs?: HostOs;
}
