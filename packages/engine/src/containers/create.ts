import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError, NotFoundError, formatPlatform, matchPlatform, normalizePlatform, parsePlatform, type Platform } from '@berth/image-format';
import type { ContainerCreateBody, ContainerCreateResponse, MountPoint } from '../docker-types.js';
import { checkContainerName, newId, randomName } from '../names.js';
import { checkRestartPolicy, mergeConfig, mountRequests, processArgs, publishedPorts } from '../container-config.js';
import { prepareBindSources } from './bind-sources.js';
import type { ContainerContext } from './context.js';
import { createEndpoints } from './endpoints.js';
import { parseLink } from './links.js';
import { resolvePidMode } from './pid-mode.js';
import { validateLogConfig } from './log-config.js';
import { nameConflict, type ContainerRecord } from './record.js';
import type { ContainerCreateOptions } from '../services.js';

/**
 * `docker create`: validates the request as Docker does, merges it with the image's
 * config, creates named volumes it mounts, prepares the container's writable snapshot and
 * records the container. Nothing runs until a start.
 */
export async function createContainer(ctx: ContainerContext, body: ContainerCreateBody, opts: ContainerCreateOptions = {}): Promise<ContainerCreateResponse> {
  const { table, deps } = ctx;
  if (!body || typeof body.Image !== 'string' || body.Image === '') throw new InvalidArgumentError('config cannot be empty in order to create a container');
  const host = body.HostConfig ?? {};
  checkRestartPolicy(host);
  validateLogConfig(host);
  // dockerd refuses a bad isolation before it looks the image up
  deps.isolation(host.Isolation);
  const name = opts.name ? checkContainerName(opts.name) : freeName(ctx);
  const existing = table.byName(name);
  if (existing) throw nameConflict(name, existing.id);
  const image = deps.images.resolve(body.Image);
  if (opts.platform) {
    // dockerd (GetImage with a platform): the image is there, but not for what was asked
    const want = normalizePlatform(parsePlatform(opts.platform));
    const have: Platform = { os: image.config.os ?? 'linux', architecture: image.config.architecture ?? 'amd64', ...(image.config.variant ? { variant: image.config.variant } : {}) };
    if (!matchPlatform(want, have)) {
      throw new NotFoundError(`image with reference ${body.Image} was found but does not match the specified platform: wanted ${formatPlatform(want)}, actual: ${formatPlatform(normalizePlatform(have))}`);
    }
  }
  const isolation = deps.isolation(host.Isolation, image.config.os ?? 'linux');
  const id = opts.id ?? newId();
  // an embedding API (the CRI) may choose the id, e.g. to name it in the runtime's annotations
  if (opts.id !== undefined && (!/^[0-9a-f]{64}$/.test(opts.id) || table.get(opts.id))) throw new InvalidArgumentError(`invalid or taken container id ${opts.id}`);
  const config = mergeConfig(image.config, body, id.slice(0, 12));
  const { path, args } = processArgs(config);
  const swappiness = host.MemorySwappiness;
  if (swappiness !== undefined && swappiness !== null && swappiness !== -1 && !(swappiness >= 0 && swappiness <= 100)) {
    throw new InvalidArgumentError(`Invalid value: ${swappiness}, valid memory swappiness range is 0-100`);
  }
  const pidMode = resolvePidMode(host, table);
  const ports = publishedPorts(host.PortBindings);
  if (host.PublishAllPorts) {
    // -P: every exposed port without a binding gets a free host port at start.
    const bound = new Set(ports.map((p) => `${p.containerPort}/${p.protocol}`));
    for (const key of Object.keys(config.ExposedPorts ?? {})) {
      if (bound.has(key)) continue;
      for (const p of publishedPorts({ [key]: [{ HostIp: '', HostPort: '' }] })) ports.push(p);
    }
  }
  const requests = mountRequests(config, host);
  await prepareBindSources(requests, { create: false });
  const warnings: string[] = [];
  let networkMode = host.NetworkMode || 'default';
  if ((networkMode === 'default' || networkMode === 'bridge') && !deps.networks.bridgeAvailable()) {
    warnings.push('bridge networking is not available from the runtime driver: the container runs with network "none"');
    networkMode = 'none';
  }
  const netName = networkMode === 'default' ? 'bridge' : networkMode;
  // Legacy links belong to the default bridge: dockerd drops them on other networks (where
  // endpoint Links do that job) and checks, on the bridge, that each names a container.
  const links = netName === 'bridge' ? (host.Links ?? []) : [];
  for (const l of links) {
    const target = parseLink(l).target;
    if (!table.byName(target)) throw new NotFoundError(`could not get container for ${target}: No such container: ${target}`);
  }
  const { networks, macs } = createEndpoints(body, netName, (n) => deps.networks.resolve(n), name, id);
  // Volumes: named ones are created when missing; anonymous ones get a fresh name.
  const mounts: MountPoint[] = [];
  const copyUp: string[] = [];
  const anonymous: string[] = [];
  for (const m of requests) {
    if (m.type === 'volume') {
      const { volume, created } = await deps.volumes.ensure(m.name, m.labels);
      if (m.anonymous) anonymous.push(volume.Name);
      if (created && !m.noCopy) copyUp.push(volume.Name);
      mounts.push({ Type: 'volume', Name: volume.Name, Source: volume.Mountpoint, Destination: m.target, Driver: 'local', Mode: m.readOnly ? 'ro' : 'z', RW: !m.readOnly, Propagation: '' });
    } else if (m.type === 'bind') {
      mounts.push({ Type: 'bind', Source: m.source, Destination: m.target, Mode: m.readOnly ? 'ro' : '', RW: !m.readOnly, Propagation: m.propagation });
    } else {
      mounts.push({ Type: 'tmpfs', Source: '', Destination: m.target, Mode: m.options.join(','), RW: true, Propagation: '' });
    }
  }
  const record: ContainerRecord = {
    id,
    name,
    created: new Date().toISOString(),
    imageRef: body.Image,
    imageId: image.id,
    platform: opts.platform || `${image.config.os ?? 'linux'}/${image.config.architecture ?? 'amd64'}`,
    config,
    hostConfig: { ...host, ...(pidMode !== undefined ? { PidMode: pidMode } : {}), Isolation: isolation, NetworkMode: networkMode === 'default' ? 'bridge' : networkMode, Links: links.length > 0 ? links : null },
    path,
    args,
    state: { status: 'created', pid: 0, exitCode: 0, error: '', oomKilled: false, startedAt: '', finishedAt: '' },
    restartCount: 0,
    manuallyStopped: false,
    snapshotKey: `container-${id}`,
    parentChainId: image.chainId,
    logPath: opts.logPath ?? join(deps.root, 'containers', id, 'ctr.log'),
    mounts,
    copyUp,
    anonymousVolumes: anonymous,
    networks,
    ...(Object.keys(macs).length > 0 ? { macs } : {}),
    ports,
    sandboxKey: '',
    runtimeCreated: false,
    ...(opts.namespaceHolder ? { namespaceHolder: true } : {}),
  };
  await mkdir(join(deps.root, 'containers', id), { recursive: true });
  await deps.snapshots.prepare(record.snapshotKey, image.chainId);
  try {
    table.insert(record);
  } catch (err) {
    await deps.snapshots.remove(record.snapshotKey).catch(() => undefined);
    await rm(join(deps.root, 'containers', id), { recursive: true, force: true });
    throw err;
  }
  ctx.emit(record, 'create');
  return { Id: id, Warnings: warnings };
}

function freeName(ctx: ContainerContext): string {
  for (let i = 0; i < 10; i++) {
    const n = randomName(i);
    if (!ctx.table.byName(n)) return n;
  }
  return `berth_${newId().slice(0, 12)}`;
}
