import { normalizeReference, type ImageConfig } from '@berth/image-format';
import type { ContainerConfig, ImageHistoryItem, ImageInspect } from '../docker-types.js';
import { dockerConfigShape } from './config-shape.js';
import { dockerLayerSize, type ImageRecord, type ImageTable } from './table.js';

// How Docker describes an image: `GET /images/{name}/json` and `/history`.

const GRAPH_DRIVER = 'overlay2';

/** Fields of Docker's v1 image config that the OCI config type leaves out. */
interface LegacyConfigFields {
  comment?: string;
  container?: string;
  container_config?: ContainerConfig;
  docker_version?: string;
}

/** The short form of a stored reference key (`busybox:latest`). */
export function familiarName(key: string): string {
  try {
    return normalizeReference(key).familiar();
  } catch {
    return key;
  }
}

export function repoDigests(table: ImageTable, rec: ImageRecord): string[] {
  const out = new Set<string>();
  for (const r of table.refsOf(rec.id)) {
    if (r.kind === 'digest') out.add(familiarName(r.ref));
  }
  return [...out];
}

function repoTags(table: ImageTable, id: string): string[] {
  return table.refsOf(id).filter((r) => r.kind === 'tag').map((r) => familiarName(r.ref));
}

/** The image's Parent while that image is still here (Docker's link goes with the parent). */
export function liveParent(table: ImageTable, rec: ImageRecord): string | undefined {
  return rec.parent && table.get(rec.parent) ? rec.parent : undefined;
}

export function inspectImage(table: ImageTable, rec: ImageRecord): ImageInspect {
  const config = JSON.parse(rec.configBytes) as ImageConfig & LegacyConfigFields;
  const history = config.history ?? [];
  return {
    Id: rec.id,
    RepoTags: repoTags(table, rec.id),
    RepoDigests: repoDigests(table, rec),
    Parent: liveParent(table, rec) ?? '',
    // Docker: the config's comment, else the last history entry's.
    Comment: config.comment || (history.at(-1)?.comment ?? ''),
    Created: config.created ?? new Date(rec.createdAt).toISOString(),
    Container: config.container ?? '',
    ContainerConfig: dockerConfigShape(config.container_config),
    DockerVersion: config.docker_version ?? '',
    Author: config.author ?? '',
    Config: dockerConfigShape(config.config as ContainerConfig | undefined),
    Architecture: config.architecture,
    ...(config.variant ? { Variant: config.variant } : {}),
    Os: config.os,
    ...(config['os.version'] ? { OsVersion: config['os.version'] } : {}),
    Size: rec.size,
    GraphDriver: { Name: GRAPH_DRIVER, Data: null },
    RootFS: { Type: 'layers', Layers: config.rootfs.diff_ids },
    Metadata: { LastTagTime: rec.lastTagTime ? new Date(rec.lastTagTime).toISOString() : '0001-01-01T00:00:00Z' },
  };
}

export function imageHistory(table: ImageTable, rec: ImageRecord): ImageHistoryItem[] {
  const config = JSON.parse(rec.configBytes) as ImageConfig;
  const hist: NonNullable<ImageConfig['history']> = config.history?.length ? config.history : rec.layers.map(() => ({ ...(config.created ? { created: config.created } : {}) }));
  let layerIdx = 0;
  const items: ImageHistoryItem[] = hist.map((h) => {
    const l = h.empty_layer ? undefined : rec.layers[layerIdx++];
    return { Id: '<missing>', Created: Math.floor(Date.parse(h.created ?? '') / 1000) || 0, CreatedBy: h.created_by ?? '', Tags: null, Size: l ? dockerLayerSize(l) : 0, Comment: h.comment ?? '' };
  });
  items.reverse();
  // As Docker: entries from the top take the IDs (and tags) of the image and then of its
  // parents, one per entry, as far as the parent chain goes.
  let cur: ImageRecord | undefined = rec;
  for (const item of items) {
    if (!cur) break;
    item.Id = cur.id;
    const tags = repoTags(table, cur.id);
    item.Tags = tags.length > 0 ? tags : null;
    cur = cur.parent ? table.get(cur.parent) : undefined;
  }
  return items;
}
