import type { ApiDescriptor } from './common.js';
import type { ContainerConfig } from './container.js';

/** One entry of GET /images/json */
export interface ImageSummary {
  Id: string;
  ParentId: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: number;
  Size: number;
  SharedSize: number;
  /** Removed in API 1.44, still sent to older clients. */
  VirtualSize?: number;
  Labels: Record<string, string>;
  Containers: number;
  Manifests?: unknown[];
  Descriptor?: ApiDescriptor;
}

/** GET /images/{name}/json */
export interface ImageInspect {
  Id: string;
  Descriptor?: ApiDescriptor;
  RepoTags: string[];
  RepoDigests: string[];
  Parent: string;
  Comment: string;
  Created: string;
  /** The committed container's ID and config; left out from API 1.45 on, as Docker does. */
  Container?: string;
  ContainerConfig?: ContainerConfig;
  DockerVersion: string;
  Author: string;
  Config: ContainerConfig;
  Architecture: string;
  Variant?: string;
  Os: string;
  OsVersion?: string;
  Size: number;
  VirtualSize?: number;
  GraphDriver: { Name: string; Data: Record<string, string> | null };
  RootFS: { Type: string; Layers: string[] };
  Metadata: { LastTagTime?: string };
}

export interface ImageHistoryItem {
  Id: string;
  Created: number;
  CreatedBy: string;
  Tags: string[] | null;
  Size: number;
  Comment: string;
}

export interface ImageDeleteItem {
  Untagged?: string;
  Deleted?: string;
}

export interface ImagePruneResponse {
  ImagesDeleted: ImageDeleteItem[] | null;
  SpaceReclaimed: number;
}
