import type { Digest, ImageConfig } from '@berth/image-format';
import type { ContainerConfig } from '../docker-types.js';
import { applyChanges } from './changes.js';
import { dockerConfigShape } from './config-shape.js';

/** DiffID of a layer tar with no entries (two zero blocks): Docker leaves such a layer out of a commit. */
export const EMPTY_LAYER_DIFF_ID = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef';

export interface CommitInput {
  base: ImageConfig;
  container: { id: string; config: ContainerConfig };
  /** The config sent with the commit request, if any; without one the container's is used whole. */
  user?: ContainerConfig | undefined;
  changes?: string[] | undefined;
  author?: string | undefined;
  comment?: string | undefined;
  diffId: Digest;
  created: string;
  /** The engine's version, recorded as Docker records its own (`DockerVersion` in inspect). */
  dockerVersion?: string | undefined;
}

/**
 * The committed image's config, as Docker's daemon builds it: Config is the request's config
 * (or the container's) with the `--change` instructions applied, filled in from the
 * container's config; `container` and `container_config` record where it came from; the
 * history's new entry is the container's Cmd.
 */
export function commitImageConfig(c: CommitInput): { config: ImageConfig; emptyLayer: boolean } {
  const containerConfig = dockerConfigShape(c.container.config);
  const start = c.user ? dockerConfigShape(c.user) : containerConfig;
  const changed = applyChanges(start as Parameters<typeof applyChanges>[0], c.changes) as ContainerConfig;
  const config = dockerConfigShape(mergeFromContainer(changed, containerConfig));
  const emptyLayer = c.diffId === EMPTY_LAYER_DIFF_ID;
  const cmd = c.container.config.Cmd;
  const history = {
    created: c.created,
    ...(c.author ? { author: c.author } : {}),
    created_by: (cmd === undefined || cmd === null ? [] : typeof cmd === 'string' ? [cmd] : cmd).join(' '),
    ...(c.comment ? { comment: c.comment } : {}),
    ...(emptyLayer ? { empty_layer: true } : {}),
  };
  const out = {
    architecture: c.base.architecture,
    ...(c.author ? { author: c.author } : {}),
    config,
    container: c.container.id,
    container_config: containerConfig,
    created: c.created,
    ...(c.dockerVersion ? { docker_version: c.dockerVersion } : {}),
    history: [...(c.base.history ?? []), history],
    os: c.base.os,
    ...(c.base['os.version'] ? { 'os.version': c.base['os.version'] } : {}),
    ...(c.base.variant ? { variant: c.base.variant } : {}),
    rootfs: { type: 'layers', diff_ids: emptyLayer ? [...c.base.rootfs.diff_ids] : [...c.base.rootfs.diff_ids, c.diffId] },
  };
  return { config: out as unknown as ImageConfig, emptyLayer };
}

/** Docker's commit merge: what the user's config leaves unset comes from the container's. */
function mergeFromContainer(user: ContainerConfig, ctr: ContainerConfig): ContainerConfig {
  const out: ContainerConfig = { ...user };
  if (!out.User) out.User = ctr.User ?? '';
  if (!out.ExposedPorts || Object.keys(out.ExposedPorts).length === 0) out.ExposedPorts = ctr.ExposedPorts ?? null;
  else out.ExposedPorts = { ...(ctr.ExposedPorts ?? {}), ...out.ExposedPorts };
  if (!out.Env || out.Env.length === 0) out.Env = ctr.Env ?? null;
  else {
    const keys = new Set(out.Env.map((e) => e.split('=')[0]));
    out.Env = [...out.Env, ...(ctr.Env ?? []).filter((e) => !keys.has(e.split('=')[0]))];
  }
  out.Labels = { ...(ctr.Labels ?? {}), ...(out.Labels ?? {}) };
  const empty = (v: string[] | string | null | undefined): boolean => v === undefined || v === null || v.length === 0;
  if (empty(out.Entrypoint)) {
    if (empty(out.Cmd)) {
      out.Cmd = ctr.Cmd ?? null;
      if (ctr.ArgsEscaped) out.ArgsEscaped = ctr.ArgsEscaped;
    }
    if (out.Entrypoint === undefined || out.Entrypoint === null) out.Entrypoint = ctr.Entrypoint ?? null;
  }
  if (ctr.Healthcheck && !out.Healthcheck) out.Healthcheck = ctr.Healthcheck;
  if (!out.WorkingDir) out.WorkingDir = ctr.WorkingDir ?? '';
  if (!out.Volumes || Object.keys(out.Volumes).length === 0) out.Volumes = ctr.Volumes ?? null;
  else out.Volumes = { ...(ctr.Volumes ?? {}), ...out.Volumes };
  if (!out.StopSignal && ctr.StopSignal) out.StopSignal = ctr.StopSignal;
  return out;
}
