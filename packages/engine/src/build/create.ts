import { createDiff, unpackLayer, type FileContentStore, type Snapshotter } from '@berth/layer-store';
import type { ContainerService, ImageService } from '../services.js';
import type { ContainerTable } from '../containers/record.js';
import type { ImageTable } from '../images/table.js';
import type { Db } from '../state/db.js';
import { join } from 'node:path';
import { Builder } from './builder.js';
import { CacheMounts } from './cache-mounts.js';
import { extractContext } from './context.js';
import { BuildCache, BuildImageStore } from './image-store.js';
import type { BuildService } from './types.js';

/** The engine's parts the builder is made from. */
export interface BuilderParts {
  root: string;
  db: Db;
  content: FileContentStore;
  snapshotter: Snapshotter;
  /** Whether layers may make device nodes (the engine's own applies do, as root). */
  privileged: boolean;
  imageTable: ImageTable;
  containerTable: ContainerTable;
  images: ImageService;
  containers: ContainerService;
  /** How long `ADD <url>` waits for an answer or the next bytes. */
  fetchTimeoutMs?: number;
}

export function createBuilder(p: BuilderParts): BuildService {
  const store = new BuildImageStore({
    table: p.imageTable,
    db: p.db,
    content: p.content,
    unpack: (layer, parent, diffId) => unpackLayer(p.content, p.snapshotter, layer, parent, { privileged: p.privileged, ...(diffId ? { diffId } : {}) }),
    snapshotMounts: (chainId) => p.snapshotter.mounts(chainId),
    diffContainer: async (id, opts = {}) => {
      const res = await createDiff(p.content, p.snapshotter, p.containerTable.resolve(id).snapshotKey, {
        ...(opts.exclude?.length ? { exclude: opts.exclude } : {}),
        ...(opts.clampMtime !== undefined ? { clampMtime: opts.clampMtime } : {}),
      });
      return { descriptor: res.descriptor, diffId: res.diffId };
    },
  });
  return new Builder({ store, cache: new BuildCache(p.db), cacheMounts: new CacheMounts(join(p.root, 'build-cache-mounts')), images: p.images, containers: p.containers, root: p.root, extract: extractContext, ...(p.fetchTimeoutMs ? { fetchTimeoutMs: p.fetchTimeoutMs } : {}) });
}
