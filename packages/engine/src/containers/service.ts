import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, readlink, rm, rmdir, stat } from 'node:fs/promises';
import { createSocket } from 'node:dgram';
import { cpus } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { promisify } from 'node:util';
import { BerthError, ConflictError, InvalidArgumentError, NotFoundError } from '@berth/image-format';
import { mountAll, unmount } from '@berth/layer-store';
import { DEFAULT_DETACH_KEYS, parseDetachKeys } from '@berth/engine-api';
import type {
  ContainerCreateBody,
  ContainerCreateResponse,
  ContainerInspect,
  ContainerStats,
  ContainerSummary,
  ContainerTop,
  ContainerWaitResponse,
  ExecCreateBody,
  ExecInspect,
  Filters,
  HostConfig,
  MountPoint,
  OutputChunk,
  WaitCondition,
} from '../docker-types.js';
import type { EventBus } from '../events.js';
import { FilterSet } from '../filters.js';
import { copyTree } from '../fsutil.js';
import { readLogs } from '../logs.js';
import { checkContainerName, newId, randomName } from '../names.js';
import type { ExecHandle, ExitInfo, RunMount, RuntimePort, SnapshotPort, StdioHandle } from '../ports.js';
import type { ArchivePathStat, AttachOptions, AttachSession, ContainerService, ExecStartOptions, LogsOptions, StopOptions } from '../services.js';
import {
  checkRestartPolicy,
  mergeConfig,
  mountRequests,
  normaliseSignal,
  processArgs,
  publishedPorts,
  type ImageConfigLike,
  type PublishedPort,
} from '../spec.js';
import type { LocalVolumes } from '../volumes.js';
import * as fmt from './format.js';
import type { BackgroundReleases } from './background-releases.js';
import { withDetachKeys } from './detach-keys.js';
import { prepareBindSources } from './bind-sources.js';
import { findInitBinary, INIT_PATH_IN_CONTAINER } from './init-binary.js';
import { archiveOf, statPath, type RootMount } from './archive.js';
import { extractToDir } from './archive-extract.js';
import { execDetachKeys, execSession } from './exec-session.js';
import { blkioStats } from './stats.js';
import { overlayChanges, treeChanges } from './changes.js';
import { assertLogsReadable, logLimitsOf, validateLogConfig } from './log-config.js';
import { healthTimings, probeArgs, recordProbe, type HealthState } from './health.js';
import { ContainerTable, NO_TIME, nameConflict, rid, type ContainerRecord } from './record.js';
import { createEndpoints, runNetworks } from './endpoints.js';
import { interfaceStats } from './net-stats.js';
import { linkNames, parseLink, removeLink, resolveLinks, withLinkEnv } from './links.js';
import { NAMESPACE_LABEL } from '../namespaces.js';

const run = promisify(execFile);

/** Driver labels that tie a runtime container to its engine root and record. */
const ROOT_LABEL = 'berth.engine.root';
const ID_LABEL = 'berth.engine.container';

export interface ResolvedImage {
  id: string;
  config: ImageConfigLike;
  chainId: string | undefined;
}

/** What containers need from the image side. */
export interface ImageLookup {
  /** The local image for a reference or ID; NotFound `No such image: <ref>`. */
  resolve(ref: string): ResolvedImage;
  /** Familiar name for ps's Image column given the stored ref and ID. */
  displayName(ref: string, imageId: string): string;
}

/** Looks up a network for a container's NetworkMode / EndpointsConfig. */
export interface NetworkLookup {
  resolve(nameOrId: string): { id: string; name: string; driver: string };
  /** False when the driver has no bridge networking (then default-network containers get `none`). */
  bridgeAvailable(): boolean;
}

interface Waiter {
  condition: WaitCondition;
  resolve: (r: ContainerWaitResponse) => void;
}

interface PendingAttach {
  output: PassThrough;
  closed: boolean;
  inner?: AttachSession;
  connect(runtimeId: string): Promise<void>;
}

interface ExecRecord {
  id: string;
  containerId: string;
  body: ExecCreateBody;
  running: boolean;
  exitCode: number | null;
  pid: number;
  handle?: ExecHandle;
}

export interface ContainerDeps {
  table: ContainerTable;
  runtime: RuntimePort;
  snapshots: SnapshotPort;
  images: ImageLookup;
  networks: NetworkLookup;
  volumes: LocalVolumes;
  events: EventBus;
  root: string;
  driverName: string;
  defaultStopTimeout: number;
  /** json-file-like limits of container logs (Docker's log-opts max-size / max-file). */
  logLimits?: { maxSize: number; maxFiles: number };
  /** Fills network endpoints (IP, MAC, gateway) after a start. */
  afterStart?: (r: ContainerRecord) => Promise<void>;
  /** Where auto-removed containers' resources are released after they are reported removed. */
  releases?: BackgroundReleases;
  /** daemon.json `dns`: the nameservers of default-bridge containers that name none. */
  defaultDns?: string[];
  /** daemon.json `init-path`: the binary `--init` runs (default: docker-init or catatonit). */
  initPath?: string;
}

export class Containers implements ContainerService {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly watching = new Set<string>();
  private readonly execs = new Map<string, ExecRecord>();
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  private readonly pendingAttach = new Map<string, Set<PendingAttach>>();
  private readonly healthTimers = new Map<string, NodeJS.Timeout>();
  /** Serialises lifecycle operations per container. */
  private readonly locks = new Map<string, Promise<unknown>>();
  private closed = false;

  constructor(private readonly d: ContainerDeps) {}

  // ---------- lifecycle ----------

  async create(body: ContainerCreateBody, opts: { name?: string; platform?: string; logPath?: string } = {}): Promise<ContainerCreateResponse> {
    if (!body || typeof body.Image !== 'string' || body.Image === '') throw new InvalidArgumentError('config cannot be empty in order to create a container');
    const host = body.HostConfig ?? {};
    checkRestartPolicy(host);
    validateLogConfig(host);
    const name = opts.name ? checkContainerName(opts.name) : this.freeName();
    const existing = this.d.table.byName(name);
    if (existing) throw nameConflict(name, existing.id);
    const image = this.d.images.resolve(body.Image);
    const id = newId();
    const config = mergeConfig(image.config, body, id.slice(0, 12));
    const { path, args } = processArgs(config);
    const swappiness = host.MemorySwappiness;
    if (swappiness !== undefined && swappiness !== null && swappiness !== -1 && !(swappiness >= 0 && swappiness <= 100)) {
      throw new InvalidArgumentError(`Invalid value: ${swappiness}, valid memory swappiness range is 0-100`);
    }
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
    if ((networkMode === 'default' || networkMode === 'bridge') && !this.d.networks.bridgeAvailable()) {
      warnings.push('bridge networking is not available from the runtime driver: the container runs with network "none"');
      networkMode = 'none';
    }
    const netName = networkMode === 'default' ? 'bridge' : networkMode;
    // Legacy links belong to the default bridge: dockerd drops them on other networks (where
    // endpoint Links do that job) and checks, on the bridge, that each names a container.
    const links = netName === 'bridge' ? (host.Links ?? []) : [];
    for (const l of links) {
      const target = parseLink(l).target;
      if (!this.d.table.byName(target)) throw new NotFoundError(`could not get container for ${target}: No such container: ${target}`);
    }
    const { networks, macs } = createEndpoints(body, netName, (n) => this.d.networks.resolve(n), name, id);
    // Volumes: named ones are created when missing; anonymous ones get a fresh name.
    const mounts: MountPoint[] = [];
    const copyUp: string[] = [];
    const anonymous: string[] = [];
    for (const m of requests) {
      if (m.type === 'volume') {
        const { volume, created } = await this.d.volumes.ensure(m.name, m.labels);
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
      hostConfig: { ...host, NetworkMode: networkMode === 'default' ? 'bridge' : networkMode, Links: links.length > 0 ? links : null },
      path,
      args,
      state: { status: 'created', pid: 0, exitCode: 0, error: '', oomKilled: false, startedAt: '', finishedAt: '' },
      restartCount: 0,
      manuallyStopped: false,
      snapshotKey: `container-${id}`,
      parentChainId: image.chainId,
      logPath: opts.logPath ?? join(this.d.root, 'containers', id, 'ctr.log'),
      mounts,
      copyUp,
      anonymousVolumes: anonymous,
      networks,
      ...(Object.keys(macs).length > 0 ? { macs } : {}),
      ports,
      sandboxKey: '',
      runtimeCreated: false,
    };
    await mkdir(join(this.d.root, 'containers', id), { recursive: true });
    await this.d.snapshots.prepare(record.snapshotKey, image.chainId);
    try {
      this.d.table.insert(record);
    } catch (err) {
      await this.d.snapshots.remove(record.snapshotKey).catch(() => undefined);
      await rm(join(this.d.root, 'containers', id), { recursive: true, force: true });
      throw err;
    }
    this.emit(record, 'create');
    return { Id: id, Warnings: warnings };
  }

  start(ref: string): Promise<{ started: boolean }> {
    const r = this.d.table.resolve(ref);
    return this.serial(r.id, async () => {
      const cur = this.d.table.resolve(r.id);
      if (cur.state.status === 'running' || cur.state.status === 'paused') return { started: false };
      cur.manuallyStopped = false;
      this.clearRestartTimer(cur.id);
      await this.launch(cur);
      return { started: true };
    });
  }

  /** Creates the runtime container and starts it; the record must not be running. */
  private async launch(r: ContainerRecord): Promise<void> {
    if (r.runtimeCreated) {
      // the log is the container's (logPath): the next run continues it
      await this.d.runtime.delete(rid(r)).catch(() => undefined);
      r.runtimeCreated = false;
    }
    r.runs = (r.runs ?? 0) + 1;
    r.runtimeId = r.runs === 1 ? r.id : `${r.id}-${r.runs}`;
    const rootfs = await this.d.snapshots.mounts(r.snapshotKey);
    if (r.copyUp.length > 0) await this.copyUp(r, rootfs);
    await prepareBindSources(mountRequests(r.config, r.hostConfig), { create: true });
    const ports = await this.allocatePorts(r);
    const runMounts: RunMount[] = r.mounts.map((m) =>
      m.Type === 'tmpfs'
        ? { type: 'tmpfs', source: 'tmpfs', target: m.Destination, options: ['nosuid', 'nodev', ...(m.Mode ? m.Mode.split(',') : [])] }
        : { type: 'bind', source: m.Source, target: m.Destination, options: ['rbind', m.RW ? 'rw' : 'ro', ...(m.Propagation ? [m.Propagation] : [])] },
    );
    const h = r.hostConfig;
    let args = [r.path, ...r.args];
    if (h.Init) {
      // Docker's --init: a small init as PID 1 reaps zombies and forwards signals
      runMounts.push({ type: 'bind', source: await findInitBinary(this.d.initPath), target: INIT_PATH_IN_CONTAINER, options: ['bind', 'ro'] });
      args = [INIT_PATH_IN_CONTAINER, '--', ...args];
    }
    const tty = r.config.Tty ?? false;
    // `-e FOO` with FOO unset where the client ran arrives as a bare name: not set, as with Docker
    let env = (r.config.Env ?? []).filter((e) => e.includes('='));
    if (!env.some((e) => e.startsWith('HOSTNAME='))) env = [...env, `HOSTNAME=${r.config.Hostname}`];
    if (tty && !env.some((e) => e.startsWith('TERM='))) env = [...env, 'TERM=xterm'];
    // legacy links live on the default bridge only (on user networks the embedded DNS serves names)
    const links = (h.NetworkMode || 'bridge') === 'bridge' ? resolveLinks(r, (n) => this.d.table.byName(n)) : { env: [], hosts: [] };
    env = withLinkEnv(links.env, env);
    const quota = h.NanoCpus ? Math.round((h.NanoCpus / 1e9) * 100000) : h.CpuQuota || undefined;
    try {
      const created = await this.d.runtime.create({
        id: rid(r),
        logPath: r.logPath,
        ...logLimitsOf(r, this.d.logLimits),
        name: r.name,
        rootfs,
        readonlyRootfs: h.ReadonlyRootfs ?? false,
        process: {
          args,
          env,
          cwd: r.config.WorkingDir || '/',
          user: r.config.User ?? '',
          tty,
          openStdin: r.config.OpenStdin ?? false,
          stdinOnce: r.config.StdinOnce ?? false,
          rlimits: (h.Ulimits ?? []).map((u) => ({ type: u.Name, soft: u.Soft, hard: u.Hard })),
          ...(h.ConsoleSize && h.ConsoleSize[0] > 0 ? { consoleSize: { h: h.ConsoleSize[0], w: h.ConsoleSize[1] } } : {}),
        },
        hostNamespaces: (['pid', 'ipc', 'uts'] as const).filter((ns) => ({ pid: h.PidMode, ipc: h.IpcMode, uts: h.UTSMode })[ns] === 'host'),
        hostname: r.config.Hostname ?? r.id.slice(0, 12),
        domainname: r.config.Domainname ?? '',
        mounts: runMounts,
        network: {
          mode: h.NetworkMode || 'bridge',
          networks: runNetworks(r),
          ports,
          // the default bridge has no embedded DNS: daemon.json's servers go in its containers' resolv.conf, as Docker's
          dns: h.Dns?.length ? h.Dns : ['', 'bridge', 'default'].includes(h.NetworkMode ?? '') ? (this.d.defaultDns ?? []) : [],
          dnsSearch: h.DnsSearch ?? [],
          dnsOptions: h.DnsOptions ?? [],
          extraHosts: [...links.hosts, ...(h.ExtraHosts ?? [])],
        },
        resources: {
          ...(h.Memory ? { memory: h.Memory } : {}),
          ...(h.MemorySwap ? { memorySwap: h.MemorySwap } : {}),
          ...(quota ? { cpuQuota: quota, cpuPeriod: h.NanoCpus ? 100000 : h.CpuPeriod || 100000 } : {}),
          ...(h.CpuShares ? { cpuShares: h.CpuShares } : {}),
          ...(h.PidsLimit && h.PidsLimit > 0 ? { pidsLimit: h.PidsLimit } : {}),
          ...(h.CpusetCpus ? { cpusetCpus: h.CpusetCpus } : {}),
          ...(h.MemorySwappiness !== undefined && h.MemorySwappiness !== null && h.MemorySwappiness >= 0 ? { memorySwappiness: h.MemorySwappiness } : {}),
          ...(h.OomScoreAdj ? { oomScoreAdj: h.OomScoreAdj } : {}),
        },
        security: { privileged: h.Privileged ?? false, capAdd: h.CapAdd ?? [], capDrop: h.CapDrop ?? [], securityOpt: h.SecurityOpt ?? [], groupAdd: h.GroupAdd ?? [], ...(h.MaskedPaths ? { maskedPaths: h.MaskedPaths } : {}), ...(h.ReadonlyPaths ? { readonlyPaths: h.ReadonlyPaths } : {}) },
        sysctls: h.Sysctls ?? {},
        devices: (h.Devices ?? []).map((dv) => ({ pathOnHost: dv.PathOnHost, pathInContainer: dv.PathInContainer || dv.PathOnHost, permissions: dv.CgroupPermissions || 'rwm' })),
        deviceCgroupRules: h.DeviceCgroupRules ?? [],
        labels: { ...(r.config.Labels ?? {}), [ROOT_LABEL]: this.d.root, [ID_LABEL]: r.id },
        stopSignal: normaliseSignal(r.config.StopSignal),
      });
      r.runtimeCreated = true;
      r.logPath = created.logPath;
      r.ports = ports;
      for (const a of created.network ?? []) this.applyAttachment(r, a);
      this.d.table.save(r);
      await this.connectPending(r);
      const { pid } = await this.d.runtime.start(rid(r));
      if (!r.sandboxKey && created.network?.[0]) r.sandboxKey = created.network[0].sandboxKey;
      r.state = { ...r.state, status: 'running', pid, error: '', oomKilled: false, startedAt: new Date().toISOString(), finishedAt: r.state.finishedAt };
      this.d.table.save(r);
    } catch (err) {
      r.state = { ...r.state, status: r.state.startedAt ? 'exited' : 'created', error: (err as Error).message, exitCode: r.state.startedAt ? 128 : 0 };
      if (r.runtimeCreated) {
        await this.d.runtime.delete(rid(r)).catch(() => undefined);
        r.runtimeCreated = false;
      }
      if (this.d.table.get(r.id)) this.d.table.save(r);
      if (!this.shouldRestart(r)) this.endPending(r.id);
      throw err instanceof BerthError ? err : new BerthError('Internal', `failed to start container ${r.id.slice(0, 12)}: ${(err as Error).message}`, { cause: err });
    }
    if (this.d.afterStart) await this.d.afterStart(r).then(() => this.d.table.save(r)).catch(() => undefined);
    this.emit(r, 'start');
    this.watch(r.id);
    this.startHealth(r);
  }

  /** Runs the image's/create's HEALTHCHECK with exec every interval while the run lasts. */
  private startHealth(r: ContainerRecord): void {
    this.stopHealth(r.id);
    const args = probeArgs(r.config.Healthcheck);
    if (!args) {
      if (r.state.health) {
        delete r.state.health;
        this.d.table.save(r);
      }
      return;
    }
    const timing = healthTimings(r.config.Healthcheck);
    const runtimeId = rid(r);
    const startedAt = Date.now();
    r.state.health = { Status: 'starting', FailingStreak: 0, Log: [] };
    this.d.table.save(r);
    const tick = async (): Promise<void> => {
      const cur = this.d.table.get(r.id);
      if (!cur || rid(cur) !== runtimeId || cur.state.status !== 'running' || this.closed) return;
      const start = new Date().toISOString();
      let exitCode = -1;
      let output = '';
      try {
        const h = await this.d.runtime.exec(runtimeId, { args, env: cur.config.Env ?? [], tty: false, stdin: false, privileged: false, ...(cur.config.User ? { user: cur.config.User } : {}) });
        const take = (d: Buffer): void => {
          if (output.length < 4096) output += d.toString();
        };
        h.stdout.on('data', take);
        h.stderr?.on('data', take);
        const timer = new Promise<number>((res) => setTimeout(() => res(-2), timing.timeout).unref());
        exitCode = await Promise.race([h.exited, timer]);
        if (exitCode === -2) {
          output = `Health check exceeded timeout (${timing.timeout / 1000}s)`;
          exitCode = -1;
          h.close();
        }
      } catch (err) {
        output = (err as Error).message;
      }
      const now = this.d.table.get(r.id);
      if (!now || rid(now) !== runtimeId || now.state.status !== 'running') return;
      const prev: HealthState = now.state.health ?? { Status: 'starting', FailingStreak: 0, Log: [] };
      const next = recordProbe(prev, { Start: start, End: new Date().toISOString(), ExitCode: exitCode, Output: output }, timing.retries, Date.now() - startedAt < timing.startPeriod);
      now.state.health = next;
      this.d.table.save(now);
      if (next.Status !== prev.Status) this.emit(now, `health_status: ${next.Status}`);
      if (this.healthTimers.has(r.id)) this.healthTimers.set(r.id, setTimeout(() => void tick(), timing.interval).unref());
    };
    this.healthTimers.set(r.id, setTimeout(() => void tick(), timing.interval).unref());
  }

  private stopHealth(id: string): void {
    const t = this.healthTimers.get(id);
    if (t) clearTimeout(t);
    this.healthTimers.delete(id);
  }

  private applyAttachment(r: ContainerRecord, a: { network: string; ipAddress: string; prefixLen: number; gateway: string; macAddress: string; sandboxKey: string }): void {
    const ep = r.networks[a.network] ?? Object.values(r.networks)[0];
    if (!ep) return;
    ep.IPAddress = a.ipAddress;
    ep.IPPrefixLen = a.prefixLen;
    ep.Gateway = a.gateway;
    ep.MacAddress = a.macAddress;
    ep.EndpointID = ep.EndpointID || newId();
    r.sandboxKey = a.sandboxKey;
  }

  /** Docker copies the image's content at a volume's mount point into a new, empty volume. */
  private async copyUp(r: ContainerRecord, rootfs: { type: string; source: string; options: string[] }[]): Promise<void> {
    const dir = await mkdtemp(join(this.d.root, 'tmp-copyup-'));
    const mnt = rootfs[0];
    try {
      if (mnt) {
        await mountAll([mnt], dir);
      }
      try {
        for (const name of r.copyUp) {
          const m = r.mounts.find((x) => x.Name === name);
          if (!m || !(await this.d.volumes.isEmpty(name))) continue;
          const from = join(dir, m.Destination);
          try {
            await readdir(from);
          } catch {
            continue;
          }
          await copyTree(from, m.Source);
        }
      } finally {
        if (mnt) await unmount(dir);
      }
      r.copyUp = [];
      this.d.table.save(r);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Port 0 gets a free port; a port another container or process holds is refused as Docker does. */
  private async allocatePorts(r: ContainerRecord): Promise<PublishedPort[]> {
    const inUse = new Set<string>();
    for (const o of this.d.table.all()) {
      if (o.id === r.id || (o.state.status !== 'running' && o.state.status !== 'paused')) continue;
      for (const p of o.ports) inUse.add(`${p.protocol}:${p.hostPort}`);
    }
    const out: PublishedPort[] = [];
    for (const p of r.ports) {
      const hostIp = p.hostIp || '0.0.0.0';
      let hostPort = p.hostPort;
      if (hostPort === 0) hostPort = await freePort(hostIp, p.protocol);
      else if (inUse.has(`${p.protocol}:${hostPort}`) || (p.protocol === 'tcp' && !(await canBind(hostIp, hostPort)))) {
        throw new BerthError('Internal', `driver failed programming external connectivity on endpoint ${r.name} (${r.id}): Bind for ${hostIp}:${hostPort} failed: port is already allocated`);
      }
      inUse.add(`${p.protocol}:${hostPort}`);
      out.push({ ...p, hostPort });
    }
    return out;
  }

  /** Watches the driver for the container's exit, once per run. */
  private watch(id: string): void {
    const r = this.d.table.get(id);
    if (!r) return;
    const runtimeId = rid(r);
    if (this.watching.has(runtimeId)) return;
    this.watching.add(runtimeId);
    this.d.runtime.waitExit(runtimeId).then(
      (exit) => {
        this.watching.delete(runtimeId);
        // a closed engine's database is closed too: the next one reconciles this exit
        if (this.closed) return;
        const cur = this.d.table.get(id);
        // An exit of an earlier run (its watcher outlived a restart) is not news.
        if (cur && rid(cur) === runtimeId) void this.onExit(id, exit);
      },
      () => {
        this.watching.delete(runtimeId);
      },
    );
  }

  private async onExit(id: string, exit: ExitInfo): Promise<void> {
    this.stopHealth(id);
    const r = this.d.table.get(id);
    if (!r) return;
    r.state = { ...r.state, status: 'exited', pid: 0, exitCode: exit.exitCode, oomKilled: exit.oomKilled, finishedAt: exit.finishedAt };
    this.d.table.save(r);
    if (exit.oomKilled) this.emit(r, 'oom');
    this.emit(r, 'die', { exitCode: String(exit.exitCode) });
    this.notify(id, 'exit', { StatusCode: exit.exitCode });
    if (r.hostConfig.AutoRemove) {
      await this.remove(id, { force: true, volumes: true }, { releaseInBackground: true }).catch(() => undefined);
      return;
    }
    this.maybeRestart(r);
  }

  private shouldRestart(r: ContainerRecord): boolean {
    const p = r.hostConfig.RestartPolicy;
    if (r.manuallyStopped || this.closed) return false;
    switch (p?.Name) {
      case 'always':
      case 'unless-stopped':
        return true;
      case 'on-failure':
        return r.state.exitCode !== 0 && (!p.MaximumRetryCount || r.restartCount < p.MaximumRetryCount);
      default:
        return false;
    }
  }

  private maybeRestart(r: ContainerRecord): void {
    if (!this.shouldRestart(r)) return;
    const ranMs = Date.parse(r.state.finishedAt) - Date.parse(r.state.startedAt);
    const delay = ranMs > 10_000 ? 100 : Math.min(60_000, 100 * 2 ** Math.min(r.restartCount, 10));
    r.state.status = 'restarting';
    this.d.table.save(r);
    const t = setTimeout(() => {
      this.restartTimers.delete(r.id);
      void this.serial(r.id, async () => {
        const cur = this.d.table.get(r.id);
        if (!cur || cur.state.status !== 'restarting' || this.closed) return;
        cur.restartCount += 1;
        try {
          await this.launch(cur);
          this.emit(cur, 'restart');
        } catch {
          const again = this.d.table.get(r.id);
          if (again) {
            again.state.status = 'exited';
            this.d.table.save(again);
          }
        }
      });
    }, delay);
    t.unref();
    this.restartTimers.set(r.id, t);
  }

  private clearRestartTimer(id: string): void {
    const t = this.restartTimers.get(id);
    if (t) clearTimeout(t);
    this.restartTimers.delete(id);
  }

  stop(ref: string, opts: StopOptions = {}): Promise<{ stopped: boolean }> {
    const r = this.d.table.resolve(ref);
    return this.serial(r.id, () => this.stopLocked(r.id, opts));
  }

  private async stopLocked(id: string, opts: StopOptions): Promise<{ stopped: boolean }> {
    const r = this.d.table.resolve(id);
    this.clearRestartTimer(id);
    if (r.state.status === 'restarting') {
      r.state.status = 'exited';
      r.manuallyStopped = true;
      this.d.table.save(r);
      return { stopped: true };
    }
    if (r.state.status !== 'running' && r.state.status !== 'paused') return { stopped: false };
    r.manuallyStopped = true;
    this.d.table.save(r);
    const signal = normaliseSignal(opts.signal || r.config.StopSignal);
    const timeout = opts.timeout ?? r.config.StopTimeout ?? this.d.defaultStopTimeout;
    const exited = this.waitExitRecorded(id);
    if (r.state.status === 'paused') await this.d.runtime.resume(rid(r)).catch(() => undefined);
    this.emit(r, 'kill', { signal: signalNumber(signal) });
    await this.d.runtime.kill(rid(r), signal).catch(() => undefined);
    if (timeout < 0) {
      await exited;
    } else if (!(await withTimeout(exited, timeout * 1000))) {
      this.emit(r, 'kill', { signal: '9' });
      await this.d.runtime.kill(rid(r), 'SIGKILL').catch(() => undefined);
      await withTimeout(exited, 30_000);
    }
    const after = this.d.table.get(id);
    if (after) this.emit(after, 'stop');
    return { stopped: true };
  }

  /** Resolves when the exit of the current run is recorded (or the container is gone). */
  private waitExitRecorded(id: string): Promise<void> {
    return new Promise((resolve) => {
      const r = this.d.table.get(id);
      if (!r || (r.state.status !== 'running' && r.state.status !== 'paused')) return resolve();
      this.addWaiter(id, { condition: 'next-exit', resolve: () => resolve() });
      this.watch(id);
    });
  }

  async kill(ref: string, opts: { signal?: string } = {}): Promise<void> {
    const r = this.d.table.resolve(ref);
    const signal = normaliseSignal(opts.signal, 'SIGKILL');
    if (r.state.status !== 'running' && r.state.status !== 'paused') {
      throw new ConflictError(`Cannot kill container: ${ref}: container ${r.id} is not running`);
    }
    r.manuallyStopped = true;
    this.d.table.save(r);
    this.emit(r, 'kill', { signal: signalNumber(signal) });
    const exited = signal === 'SIGKILL' ? this.waitExitRecorded(r.id) : undefined;
    await this.d.runtime.kill(rid(r), signal);
    if (exited) await withTimeout(exited, 10_000);
  }

  async restart(ref: string, opts: StopOptions = {}): Promise<void> {
    const r = this.d.table.resolve(ref);
    await this.serial(r.id, async () => {
      await this.stopLocked(r.id, opts);
      const cur = this.d.table.resolve(r.id);
      cur.manuallyStopped = false;
      await this.launch(cur);
    });
    this.emit(this.d.table.resolve(r.id), 'restart');
  }

  async pause(ref: string): Promise<void> {
    const r = this.d.table.resolve(ref);
    if (r.state.status === 'paused') throw new ConflictError(`Container ${r.id} is already paused`);
    if (r.state.status !== 'running') throw new ConflictError(`Container ${r.id} is not running`);
    await this.d.runtime.pause(rid(r));
    r.state.status = 'paused';
    this.d.table.save(r);
    this.emit(r, 'pause');
  }

  async unpause(ref: string): Promise<void> {
    const r = this.d.table.resolve(ref);
    if (r.state.status !== 'paused') throw new ConflictError(`Container ${r.id} is not paused`);
    await this.d.runtime.resume(rid(r));
    r.state.status = 'running';
    this.d.table.save(r);
    this.emit(r, 'unpause');
  }

  /**
   * `releaseInBackground` (auto-remove): once the container has exited, its record and
   * anonymous volumes go and `removed` is reported; the runtime state, the rootfs snapshot
   * and its directory are released right after, in the background.
   */
  async remove(ref: string, opts: { force?: boolean; volumes?: boolean; link?: boolean } = {}, how: { releaseInBackground?: boolean } = {}): Promise<void> {
    if (opts.link) {
      const parent = removeLink(ref, (n) => this.d.table.byName(n));
      this.d.table.save(parent);
      return;
    }
    const r = this.d.table.resolve(ref);
    await this.serial(r.id, async () => {
      const cur = this.d.table.get(r.id);
      if (!cur) return;
      this.clearRestartTimer(cur.id);
      if (cur.state.status === 'running' || cur.state.status === 'paused' || cur.state.status === 'restarting') {
        if (!opts.force) {
          throw new ConflictError(
            cur.state.status === 'paused'
              ? `cannot remove container "/${cur.name}": container is paused and must be unpaused first`
              : `cannot remove container "/${cur.name}": container is running: stop the container before removing or force remove`,
          );
        }
        if (cur.state.status !== 'restarting') {
          cur.manuallyStopped = true;
          this.d.table.save(cur);
          const exited = this.waitExitRecorded(cur.id);
          if (cur.state.status === 'paused') await this.d.runtime.resume(rid(cur)).catch(() => undefined);
          await this.d.runtime.kill(rid(cur), 'SIGKILL').catch(() => undefined);
          await withTimeout(exited, 15_000);
        }
      }
      const fresh = this.d.table.get(cur.id) ?? cur;
      fresh.state.status = 'removing';
      this.d.table.save(fresh);
      const release = async (): Promise<void> => {
        if (fresh.runtimeCreated) await this.d.runtime.delete(rid(fresh)).catch(() => undefined);
        await this.d.snapshots.remove(fresh.snapshotKey).catch(() => undefined);
        await rm(join(this.d.root, 'containers', fresh.id), { recursive: true, force: true });
      };
      const background = how.releaseInBackground === true && this.d.releases !== undefined && !this.closed;
      if (!background) await release();
      this.d.table.delete(fresh.id);
      if (background) this.d.releases!.track(release());
      for (const e of [...this.execs.values()]) if (e.containerId === fresh.id) this.execs.delete(e.id);
      if (opts.volumes) {
        for (const v of fresh.anonymousVolumes) {
          if (this.volumeUsers(v).length === 0) await this.d.volumes.remove(v).catch(() => undefined);
        }
      }
      this.endPending(fresh.id);
      this.stopHealth(fresh.id);
      this.emit(fresh, 'destroy');
      this.notify(fresh.id, 'removed', { StatusCode: fresh.state.exitCode });
    });
  }

  wait(ref: string, condition: WaitCondition = 'not-running', signal?: AbortSignal): Promise<ContainerWaitResponse> {
    let r: ContainerRecord;
    try {
      r = this.d.table.resolve(ref);
    } catch (err) {
      return Promise.reject(err);
    }
    if (!['not-running', 'next-exit', 'removed'].includes(condition)) {
      return Promise.reject(new InvalidArgumentError(`invalid condition: "${condition}"`));
    }
    const running = r.state.status === 'running' || r.state.status === 'paused' || r.state.status === 'restarting';
    if (condition === 'not-running' && !running) return Promise.resolve({ StatusCode: r.state.exitCode, Error: null });
    return new Promise((resolve, reject) => {
      const w: Waiter = { condition, resolve: (res) => resolve({ StatusCode: res.StatusCode, Error: null }) };
      this.addWaiter(r.id, w);
      signal?.addEventListener('abort', () => {
        this.waiters.get(r.id)?.delete(w);
        reject(new BerthError('Unavailable', 'wait aborted'));
      }, { once: true });
    });
  }

  private addWaiter(id: string, w: Waiter): void {
    let set = this.waiters.get(id);
    if (!set) this.waiters.set(id, (set = new Set()));
    set.add(w);
  }

  private notify(id: string, what: 'exit' | 'removed', res: ContainerWaitResponse): void {
    const set = this.waiters.get(id);
    if (!set) return;
    for (const w of [...set]) {
      const hit = what === 'removed' ? true : w.condition !== 'removed';
      if (!hit) continue;
      // A restarting container is still "running" for not-running waiters only if it
      // will restart; Docker resolves not-running at each exit, so do we.
      set.delete(w);
      w.resolve(res);
    }
    if (set.size === 0) this.waiters.delete(id);
  }

  // ---------- io ----------

  async logs(ref: string, opts: LogsOptions = {}): Promise<Readable> {
    const r = this.d.table.resolve(ref);
    assertLogsReadable(r);
    return readLogs(this.d.runtime, r.runtimeCreated ? rid(r) : undefined, opts);
  }

  async attach(ref: string, opts: AttachOptions = {}): Promise<AttachSession> {
    const keys = parseDetachKeys(opts.detachKeys || DEFAULT_DETACH_KEYS);
    return withDetachKeys(await this.attachStreams(ref, opts), keys);
  }

  private async attachStreams(ref: string, opts: AttachOptions): Promise<AttachSession> {
    const r = this.d.table.resolve(ref);
    const tty = r.config.Tty ?? false;
    const output = new PassThrough({ objectMode: true });
    const wantOut = opts.stdout ?? true;
    const wantErr = opts.stderr ?? true;
    if (opts.logs) {
      const replay = await this.logs(r.id, { stdout: wantOut, stderr: wantErr });
      for await (const c of replay) output.write(c);
    }
    if (!opts.stream) {
      output.end();
      return { tty, output, close: () => output.end() };
    }
    const running = r.state.status === 'running' || r.state.status === 'paused';
    if (!running) {
      // Not started yet (docker run attaches before start): attach once it starts.
      return this.attachWhenStarted(r, opts, output, tty);
    }
    const h = await this.d.runtime.attach(rid(r), { stdin: !!opts.stdin && !!r.config.OpenStdin });
    return pipeSession(h, output, tty, wantOut, wantErr, r.config.StdinOnce ?? false);
  }

  /**
   * `docker run` attaches before it starts: the session is connected to the driver between
   * create and start of the next run (see launch), so not a byte of a short process is lost.
   */
  private attachWhenStarted(r: ContainerRecord, opts: AttachOptions, output: PassThrough, tty: boolean): AttachSession {
    const stdin = opts.stdin && r.config.OpenStdin ? new PassThrough() : undefined;
    const pending: PendingAttach = {
      output,
      closed: false,
      connect: async (runtimeId: string) => {
        if (pending.closed) return;
        const h = await this.d.runtime.attach(runtimeId, { stdin: !!stdin });
        pending.inner = pipeSession(h, output, tty, opts.stdout ?? true, opts.stderr ?? true, r.config.StdinOnce ?? false);
        if (stdin && pending.inner.stdin) stdin.pipe(pending.inner.stdin);
      },
    };
    let set = this.pendingAttach.get(r.id);
    if (!set) this.pendingAttach.set(r.id, (set = new Set()));
    set.add(pending);
    return {
      tty,
      ...(stdin ? { stdin } : {}),
      output,
      close: () => {
        pending.closed = true;
        this.pendingAttach.get(r.id)?.delete(pending);
        pending.inner?.close();
        if (!output.writableEnded) output.end();
      },
    };
  }

  /** Connects attach sessions waiting for this run (called between runtime create and start). */
  private async connectPending(r: ContainerRecord): Promise<void> {
    const set = this.pendingAttach.get(r.id);
    if (!set) return;
    this.pendingAttach.delete(r.id);
    await Promise.all(
      [...set].map((p) =>
        p.connect(rid(r)).catch(() => {
          if (!p.output.writableEnded) p.output.end();
        }),
      ),
    );
  }

  /** Ends attach sessions still waiting for a run that will not come. */
  private endPending(id: string): void {
    const set = this.pendingAttach.get(id);
    if (!set) return;
    this.pendingAttach.delete(id);
    for (const p of set) if (!p.output.writableEnded) p.output.end();
  }

  async resize(ref: string, size: { h: number; w: number }): Promise<void> {
    const r = this.d.table.resolve(ref);
    if (r.state.status !== 'running') throw new ConflictError(`Container ${r.id} is not running`);
    await this.d.runtime.resize(rid(r), size);
  }

  async execCreate(ref: string, body: ExecCreateBody): Promise<{ Id: string }> {
    const r = this.d.table.resolve(ref);
    if (r.state.status === 'paused') throw new ConflictError(`Container ${r.id} is paused, unpause the container before exec`);
    if (r.state.status !== 'running') throw new ConflictError(`Container ${r.id} is not running`);
    if (!body?.Cmd || body.Cmd.length === 0) throw new InvalidArgumentError('No exec command specified');
    if (body.DetachKeys) execDetachKeys(body.DetachKeys);
    const id = newId();
    this.execs.set(id, { id, containerId: r.id, body, running: false, exitCode: null, pid: 0 });
    this.emit(r, `exec_create: ${body.Cmd.join(' ')}`, { execID: id });
    return { Id: id };
  }

  async execStart(execId: string, opts: ExecStartOptions = {}): Promise<AttachSession | undefined> {
    const e = this.execs.get(execId);
    if (!e) throw new NotFoundError(`No such exec instance: ${execId}`);
    if (e.running || e.exitCode !== null) throw new ConflictError(`exec ${execId} has already been started`);
    const r = this.d.table.resolve(e.containerId);
    if (r.state.status !== 'running') throw new ConflictError(`Container ${r.id} is not running`);
    const tty = e.body.Tty ?? false;
    await opts.beforeStart?.();
    const h = await this.d.runtime.exec(rid(r), {
      args: e.body.Cmd,
      env: [...(r.config.Env ?? []), ...(e.body.Env ?? [])],
      ...(e.body.WorkingDir ? { cwd: e.body.WorkingDir } : r.config.WorkingDir ? { cwd: r.config.WorkingDir } : {}),
      ...(e.body.User ? { user: e.body.User } : r.config.User ? { user: r.config.User } : {}),
      tty,
      stdin: !!e.body.AttachStdin && !opts.detach,
      privileged: e.body.Privileged ?? false,
    }).catch((err: unknown) => {
      // Docker's code for a process that could not be started at all
      e.exitCode = 126;
      throw err;
    });
    e.running = true;
    e.pid = h.pid;
    e.handle = h;
    this.emit(r, `exec_start: ${e.body.Cmd.join(' ')}`, { execID: e.id });
    const output = new PassThrough({ objectMode: true });
    const piped = opts.detach ? undefined : pipeSession(h, output, tty, e.body.AttachStdout ?? true, e.body.AttachStderr ?? true, true);
    const session = piped && execSession(piped, { terminal: tty, raw: opts.tty ?? tty, detachKeys: e.body.DetachKeys, endOutput: () => output.writableEnded || output.end() });
    if (opts.detach) {
      h.stdout.resume();
      h.stderr?.resume();
    }
    void h.exited.then(
      (code) => {
        e.running = false;
        e.exitCode = code;
        const cur = this.d.table.get(r.id);
        if (cur) this.emit(cur, 'exec_die', { execID: e.id, exitCode: String(code) });
      },
      () => {
        e.running = false;
        e.exitCode = -1;
      },
    );
    return session;
  }

  async execInspect(execId: string): Promise<ExecInspect> {
    const e = this.execs.get(execId);
    if (!e) throw new NotFoundError(`No such exec instance: ${execId}`);
    const [entrypoint = '', ...args] = e.body.Cmd;
    return {
      CanRemove: false,
      // Docker shows the parsed key bytes, base64 (its []byte field), '' when none were given.
      DetachKeys: e.body.DetachKeys ? Buffer.from(execDetachKeys(e.body.DetachKeys)).toString('base64') : '',
      ID: e.id,
      Running: e.running,
      ExitCode: e.exitCode,
      ProcessConfig: { privileged: e.body.Privileged ?? false, user: e.body.User ?? '', tty: e.body.Tty ?? false, entrypoint, arguments: args },
      OpenStdin: e.body.AttachStdin ?? false,
      OpenStderr: e.body.AttachStderr ?? false,
      OpenStdout: e.body.AttachStdout ?? false,
      ContainerID: e.containerId,
      Pid: e.pid,
    };
  }

  async execResize(execId: string, size: { h: number; w: number }): Promise<void> {
    const e = this.execs.get(execId);
    if (!e) throw new NotFoundError(`No such exec instance: ${execId}`);
    // Clients resize as soon as the stream is open, before the process has started: wait
    // for it, as Docker does (up to 10 s).
    for (let i = 0; !e.handle && e.exitCode === null && i < 1000; i++) await new Promise((r) => setTimeout(r, 10));
    await e.handle?.resize?.(size);
  }

  // ---------- queries ----------

  async rename(ref: string, newName: string): Promise<void> {
    const r = this.d.table.resolve(ref);
    const name = checkContainerName(newName);
    if (name === r.name) throw new InvalidArgumentError(`Renaming a container with the same name as its current name`);
    const owner = this.d.table.byName(name);
    if (owner) throw nameConflict(name, owner.id);
    const old = r.name;
    r.name = name;
    this.d.table.save(r);
    this.emit(r, 'rename', { oldName: '/' + old });
  }

  async update(ref: string, body: Partial<HostConfig>): Promise<{ Warnings: string[] }> {
    const r = this.d.table.resolve(ref);
    const warnings: string[] = [];
    const next: HostConfig = { ...r.hostConfig };
    if (body.RestartPolicy && (body.RestartPolicy.Name !== undefined || body.RestartPolicy.MaximumRetryCount !== undefined)) {
      next.RestartPolicy = { Name: body.RestartPolicy.Name ?? '', MaximumRetryCount: body.RestartPolicy.MaximumRetryCount ?? 0 };
      checkRestartPolicy(next);
    }
    let resources = false;
    for (const k of ['Memory', 'MemorySwap', 'MemoryReservation', 'NanoCpus', 'CpuShares', 'CpuQuota', 'CpuPeriod', 'PidsLimit', 'CpusetCpus', 'CpusetMems'] as const) {
      const v = body[k];
      if (v === undefined || v === null || v === 0 || v === '') continue;
      (next as Record<string, unknown>)[k] = v;
      resources = true;
    }
    if (resources && (r.state.status === 'running' || r.state.status === 'paused')) {
      warnings.push('resource limits were stored and apply from the next start of the container');
    }
    r.hostConfig = next;
    this.d.table.save(r);
    this.emit(r, 'update');
    return { Warnings: warnings };
  }

  async inspect(ref: string, opts: { size?: boolean } = {}): Promise<ContainerInspect> {
    const r = this.d.table.resolve(ref);
    const execIds = [...this.execs.values()].filter((e) => e.containerId === r.id).map((e) => e.id);
    const sizeRw = opts.size ? await this.d.snapshots.usage(r.snapshotKey).catch(() => 0) : undefined;
    return fmt.inspect(r, { execIds, driverName: this.d.driverName, rootDir: this.d.root, ...(sizeRw !== undefined ? { sizeRw } : {}) });
  }

  async list(opts: { all?: boolean; limit?: number; size?: boolean; filters?: Filters } = {}): Promise<ContainerSummary[]> {
    const f = new FilterSet(opts.filters, ['id', 'name', 'label', 'status', 'ancestor', 'exited', 'before', 'since', 'volume', 'network', 'health', 'isolation', 'is-task', 'publish', 'expose']);
    for (const s of f.get('status')) {
      if (!['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'].includes(s)) {
        throw new InvalidArgumentError(`invalid filter 'status=${s}'`);
      }
    }
    let rows = this.d.table.all();
    const all = opts.all || f.has('status') || f.has('exited') || (opts.limit ?? 0) > 0;
    const created = (ref: string): number => Date.parse(this.d.table.resolve(ref).created);
    const ancestorIds = new Set<string>();
    for (const a of f.get('ancestor')) {
      try {
        ancestorIds.add(this.d.images.resolve(a).id);
      } catch {
        // an unknown ancestor matches nothing
      }
    }
    rows = rows.filter((r) => {
      if (!all && r.state.status !== 'running' && r.state.status !== 'paused' && r.state.status !== 'restarting') return false;
      // another namespace's containers (the CRI's k8s.io) show only when a label filter asks
      if (r.config.Labels?.[NAMESPACE_LABEL] && !f.has('label')) return false;
      return (
        f.matchAny('id', (v) => r.id.startsWith(v)) &&
        f.matchAny('name', (v) => new RegExp(v.replace(/^\//, '')).test(r.name)) &&
        f.matchLabels('label', r.config.Labels) &&
        f.matchAny('status', (v) => v === r.state.status) &&
        f.matchAny('ancestor', () => ancestorIds.has(r.imageId)) &&
        f.matchAny('exited', (v) => r.state.status === 'exited' && Number(v) === r.state.exitCode) &&
        f.matchAny('before', (v) => Date.parse(r.created) < created(v)) &&
        f.matchAny('since', (v) => Date.parse(r.created) > created(v)) &&
        f.matchAny('volume', (v) => r.mounts.some((m) => m.Name === v || m.Destination === v || m.Source === v)) &&
        f.matchAny('network', (v) => Object.entries(r.networks).some(([n, ep]) => n === v || ep.NetworkID === v)) &&
        f.matchAny('health', (v) => (r.state.health?.Status ?? 'none') === v)
      );
    });
    if (opts.limit && opts.limit > 0) rows = rows.slice(0, opts.limit);
    const out: ContainerSummary[] = [];
    const linked = linkNames(this.d.table.all());
    for (const r of rows) {
      const s = fmt.summary(r, this.d.images.displayName(r.imageRef, r.imageId));
      // as Docker: the names a container has through others' links come first
      const viaLinks = linked.get(r.name);
      if (viaLinks) s.Names = [...viaLinks, ...s.Names];
      if (opts.size) s.SizeRw = await this.d.snapshots.usage(r.snapshotKey).catch(() => 0);
      out.push(s);
    }
    return out;
  }

  async prune(opts: { filters?: Filters } = {}): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }> {
    const f = new FilterSet(opts.filters, ['label', 'until']);
    const until = f.get('until')[0];
    const deleted: string[] = [];
    let space = 0;
    for (const r of this.d.table.all()) {
      if (r.state.status === 'running' || r.state.status === 'paused' || r.state.status === 'restarting') continue;
      if (!f.matchLabels('label', r.config.Labels)) continue;
      if (until && Date.parse(r.created) >= parseUntil(until)) continue;
      space += await this.d.snapshots.usage(r.snapshotKey).catch(() => 0);
      await this.remove(r.id);
      deleted.push(r.id);
    }
    return { ContainersDeleted: deleted, SpaceReclaimed: space };
  }

  async stats(ref: string, opts: { stream?: boolean; signal?: AbortSignal } = {}): Promise<ContainerStats | Readable> {
    const r = this.d.table.resolve(ref);
    let prev: ContainerStats['cpu_stats'] = { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } };
    let prevRead = NO_TIME;
    const sample = async (): Promise<ContainerStats> => {
      const cur = this.d.table.get(r.id);
      const running = cur?.state.status === 'running' || cur?.state.status === 'paused';
      const s = running ? await this.d.runtime.stats(rid(r)).catch(() => undefined) : undefined;
      const cpu: ContainerStats['cpu_stats'] = {
        cpu_usage: { total_usage: s?.cpuNs ?? 0, usage_in_kernelmode: s?.cpuKernelNs ?? 0, usage_in_usermode: s?.cpuUserNs ?? 0 },
        system_cpu_usage: await systemCpuNs(),
        online_cpus: cpus().length,
        throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
      };
      const read = new Date().toISOString();
      const out: ContainerStats = {
        read,
        preread: prevRead,
        pids_stats: s ? { current: s.pids } : {},
        num_procs: 0,
        cpu_stats: cpu,
        precpu_stats: prev,
        memory_stats: s ? { usage: s.memory, limit: s.memoryLimit, stats: {} } : {},
        blkio_stats: {},
        ...(running && cur ? await interfaceStats(cur.state.pid).then((networks) => (networks ? { networks } : {})) : {}),
        name: '/' + r.name,
        id: r.id,
      };
      out.blkio_stats = blkioStats(s !== undefined);
      out['storage_stats'] = {};
      prev = cpu;
      prevRead = read;
      return out;
    };
    if (!opts.stream) {
      await sample();
      await new Promise((res) => setTimeout(res, 100));
      return sample();
    }
    const out = new Readable({ objectMode: true, read() {} });
    let stop = false;
    opts.signal?.addEventListener('abort', () => (stop = true), { once: true });
    void (async () => {
      while (!stop && !out.destroyed) {
        out.push(await sample());
        await new Promise((res) => setTimeout(res, 1000));
      }
      out.push(null);
    })();
    out.on('close', () => (stop = true));
    return out;
  }

  async export(ref: string): Promise<Readable> {
    const r = this.d.table.resolve(ref);
    const rootfs = await this.d.snapshots.mounts(r.snapshotKey);
    const mnt = rootfs[0];
    const dir = await mkdtemp(join(this.d.root, 'tmp-export-'));
    if (mnt) await mountAll([mnt], dir);
    const tar = spawn('tar', ['--numeric-owner', '--xattrs', '-C', dir, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const cleanup = async (): Promise<void> => {
      if (mnt) await unmount(dir).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    };
    tar.on('close', () => void cleanup());
    tar.stdout.on('close', () => {
      if (tar.exitCode === null) tar.kill();
    });
    this.emit(r, 'export');
    return tar.stdout;
  }

  async top(ref: string, opts: { psArgs?: string } = {}): Promise<ContainerTop> {
    const r = this.d.table.resolve(ref);
    if (r.state.status !== 'running' && r.state.status !== 'paused') throw new ConflictError(`Container ${r.id} is not running`);
    const ns = await readlink(`/proc/${r.state.pid}/ns/pid`).catch(() => '');
    const pids: string[] = [];
    for (const p of await readdir('/proc')) {
      if (!/^\d+$/.test(p)) continue;
      if (ns && (await readlink(`/proc/${p}/ns/pid`).catch(() => '')) === ns) pids.push(p);
    }
    if (pids.length === 0) return { Titles: ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD'], Processes: [] };
    const args = opts.psArgs ? opts.psArgs.split(/\s+/).filter(Boolean) : ['-f'];
    const { stdout } = await run('ps', [...args, '-p', pids.join(',')]);
    const lines = stdout.trimEnd().split('\n');
    const titles = lines[0]!.trim().split(/\s+/);
    const processes = lines.slice(1).map((l) => {
      const cols = l.trim().split(/\s+/);
      return [...cols.slice(0, titles.length - 1), cols.slice(titles.length - 1).join(' ')];
    });
    return { Titles: titles, Processes: processes };
  }

  async changes(ref: string): Promise<{ Path: string; Kind: 0 | 1 | 2 }[]> {
    const r = this.d.table.resolve(ref);
    const snaps = this.d.snapshots;
    if (!snaps.diffSource || !snaps.view) throw new BerthError('Unsupported', 'the snapshotter cannot list changes');
    const source = await snaps.diffSource(r.snapshotKey);
    if (source.kind === 'trees') return treeChanges(source.upper, source.lower);
    // The image's tree, to tell modified from added: a read-only view mounted on a temp dir.
    const viewKey = `view-${newId().slice(0, 16)}`;
    const dir = await mkdtemp(join(this.d.root, 'tmp-changes-'));
    try {
      const mounts = r.parentChainId ? await snaps.view(viewKey, r.parentChainId) : [];
      const mnt = mounts[0];
      if (mnt) await mountAll([mnt], dir);
      try {
        return await overlayChanges(source.upper, dir);
      } finally {
        if (mnt) await unmount(dir).catch(() => undefined);
      }
    } finally {
      if (r.parentChainId) await snaps.remove(viewKey).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
  }

  // ---------- archive (docker cp) ----------

  /**
   * Runs `fn` with the container's root as the host sees it: /proc/<pid>/root while it runs
   * (volumes and mounts included), else its snapshot mounted on a temp dir. `release` is
   * called by the caller when a stream made from the root is done.
   */
  private async openRoot(r: ContainerRecord): Promise<{ root: string; unmounted: RootMount[]; release: () => Promise<void> }> {
    const running = (r.state.status === 'running' || r.state.status === 'paused') && r.state.pid > 0;
    if (running) return { root: `/proc/${r.state.pid}/root`, unmounted: [], release: async () => undefined };
    // Volumes and binds are not mounted on the snapshot: paths under them are redirected.
    const unmounted = r.mounts
      .filter((m) => m.Source !== '' && (m.Type === 'volume' || m.Type === 'bind'))
      .map((m) => ({ destination: m.Destination, source: m.Source }));
    const rootfs = await this.d.snapshots.mounts(r.snapshotKey);
    const mnt = rootfs[0];
    const dir = await mkdtemp(join(this.d.root, 'tmp-archive-'));
    if (mnt) await mountAll([mnt], dir);
    let released = false;
    return {
      root: dir,
      unmounted,
      release: async () => {
        if (released) return;
        released = true;
        if (mnt) await unmount(dir).catch(() => undefined);
        // rmdir, not rm -r: should the unmount have failed, the container's files stay.
        await rmdir(dir).catch(() => undefined);
      },
    };
  }

  async archiveStat(ref: string, path: string): Promise<ArchivePathStat> {
    const r = this.d.table.resolve(ref);
    const { root, unmounted, release } = await this.openRoot(r);
    try {
      return (await statPath(root, path, unmounted).catch((err: unknown) => {
        throw err instanceof NotFoundError ? new NotFoundError(`Could not find the file ${path} in container ${ref}`) : err;
      })).stat;
    } finally {
      await release();
    }
  }

  async getArchive(ref: string, path: string): Promise<{ stat: ArchivePathStat; tar: Readable }> {
    const r = this.d.table.resolve(ref);
    const { root, unmounted, release } = await this.openRoot(r);
    try {
      const { host, resolved, stat } = await statPath(root, path, unmounted).catch((err: unknown) => {
        throw err instanceof NotFoundError ? new NotFoundError(`Could not find the file ${path} in container ${ref}`) : err;
      });
      const tar = archiveOf(host, resolved, path, stat.name);
      tar.on('close', () => void release());
      this.emit(r, 'archive-path');
      return { stat, tar };
    } catch (err) {
      await release();
      throw err;
    }
  }

  async putArchive(ref: string, path: string, tar: Readable, opts: { noOverwriteDirNonDir?: boolean; copyUIDGID?: boolean } = {}): Promise<void> {
    const id = this.d.table.resolve(ref).id;
    // Under the container's lock (as Docker's): no start, stop or rm while its tree is written.
    await this.serial(id, async () => {
      const r = this.d.table.resolve(id);
      const pause = r.state.status === 'running';
      // Paused, nothing in the container can swap a directory for a link while we write.
      if (pause) await this.d.runtime.pause(rid(r)).catch(() => undefined);
      const { root, unmounted, release } = await this.openRoot(r);
      try {
        await extractToDir(
          {
            ref,
            root,
            unmounted,
            mounts: r.mounts.map((m) => ({ destination: m.Destination, rw: m.RW })),
            readonlyRootfs: !!r.hostConfig.ReadonlyRootfs,
            user: r.config.User ?? '',
          },
          path,
          tar,
          opts,
        );
      } finally {
        await release();
        if (pause) await this.d.runtime.resume(rid(r)).catch(() => undefined);
      }
      this.emit(r, 'extract-to-dir');
    });
  }

  // ---------- engine-internal ----------

  /** Container IDs that mount volume `name`. */
  volumeUsers(name: string): string[] {
    return this.d.table.all().filter((r) => r.mounts.some((m) => m.Type === 'volume' && m.Name === name)).map((r) => r.id);
  }

  /**
   * At open: containers the records call running are checked with the driver — still
   * running ones are adopted (watched), those that exited while nobody watched get their
   * exit code; then restart policies apply to both these and to containers berthd had
   * running when it went down.
   */
  async reconcile(applyRestart: boolean): Promise<void> {
    const listed = await this.d.runtime.list().catch(() => [] as { id: string; labels: Record<string, string> }[]);
    const known = new Set(listed.map((c) => c.id));
    await this.sweep(listed);
    for (const r of this.d.table.all()) {
      const active = ['running', 'paused', 'restarting', 'removing'].includes(r.state.status);
      if (!active) continue;
      if (r.state.status === 'removing') {
        await this.remove(r.id, { force: true }).catch(() => undefined);
        continue;
      }
      const st = known.has(rid(r)) ? await this.d.runtime.state(rid(r)).catch(() => undefined) : undefined;
      if (st && (st.status === 'running' || st.status === 'paused')) {
        r.state.status = st.status;
        r.state.pid = st.pid;
        this.d.table.save(r);
        this.watch(r.id);
        if (st.status === 'running') this.startHealth(r);
        continue;
      }
      const exit = st?.exit ?? { exitCode: r.state.status === 'restarting' ? r.state.exitCode : 255, oomKilled: false, finishedAt: new Date().toISOString() };
      r.state = { ...r.state, status: 'exited', pid: 0, exitCode: exit.exitCode, oomKilled: exit.oomKilled, finishedAt: exit.finishedAt };
      this.d.table.save(r);
      this.emit(r, 'die', { exitCode: String(exit.exitCode) });
      if (r.hostConfig.AutoRemove) {
        await this.remove(r.id, { force: true, volumes: true }).catch(() => undefined);
        continue;
      }
    }
    if (!applyRestart) return;
    // Docker's restore: `always` restarts even after a user stop, `unless-stopped` unless
    // the user stopped it, `on-failure` while its last run failed and retries remain.
    for (const r of this.d.table.all()) {
      if (r.state.status !== 'exited' && r.state.status !== 'created') continue;
      if (r.state.status === 'created' || !r.state.startedAt) continue;
      const p = r.hostConfig.RestartPolicy;
      const restart =
        p?.Name === 'always' ||
        (p?.Name === 'unless-stopped' && !r.manuallyStopped) ||
        (p?.Name === 'on-failure' && !r.manuallyStopped && r.state.exitCode !== 0 && (!p.MaximumRetryCount || r.restartCount < p.MaximumRetryCount));
      if (!restart) continue;
      await this.serial(r.id, async () => {
        const cur = this.d.table.resolve(r.id);
        cur.manuallyStopped = false;
        await this.launch(cur);
      }).catch(() => undefined);
    }
  }

  /**
   * Removes what a crash between steps left: driver containers of this root that no record
   * points at (current runs only), and container snapshots without a record.
   */
  private async sweep(listed: { id: string; labels: Record<string, string> }[]): Promise<void> {
    const records = this.d.table.all();
    const live = new Set(records.map((r) => rid(r)));
    for (const c of listed) {
      if (c.labels[ROOT_LABEL] !== this.d.root || live.has(c.id)) continue;
      await this.d.runtime.delete(c.id).catch(() => undefined);
    }
    const ids = new Set(records.map((r) => r.snapshotKey));
    for (const key of (await this.d.snapshots.list?.().catch(() => [] as string[])) ?? []) {
      if (key.startsWith('container-') && !ids.has(key)) await this.d.snapshots.remove(key).catch(() => undefined);
    }
    // directories of containers whose release (after an auto-remove) a crash interrupted
    const known = new Set(records.map((r) => r.id));
    for (const dir of await readdir(join(this.d.root, 'containers')).catch(() => [] as string[])) {
      if (/^[0-9a-f]{64}$/.test(dir) && !known.has(dir)) await rm(join(this.d.root, 'containers', dir), { recursive: true, force: true });
    }
  }

  /** Settles when every auto-removed container's resources are released. */
  async released(): Promise<void> {
    await this.d.releases?.idle();
  }

  close(): void {
    this.closed = true;
    for (const t of this.healthTimers.values()) clearTimeout(t);
    this.healthTimers.clear();
    for (const t of this.restartTimers.values()) clearTimeout(t);
    this.restartTimers.clear();
    for (const set of this.waiters.values()) for (const w of set) w.resolve({ StatusCode: -1, Error: { Message: 'engine closed' } });
    this.waiters.clear();
  }

  private freeName(): string {
    for (let i = 0; i < 10; i++) {
      const n = randomName(i);
      if (!this.d.table.byName(n)) return n;
    }
    return `berth_${newId().slice(0, 12)}`;
  }

  private emit(r: ContainerRecord, action: string, extra: Record<string, string> = {}): void {
    this.d.events.emit('container', action, r.id, { ...(r.config.Labels ?? {}), image: r.imageRef, name: r.name, ...extra });
  }

  private serial<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(id, tail);
    void tail.then(() => {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    });
    return next;
  }
}

function pipeSession(h: StdioHandle, output: PassThrough, tty: boolean, wantOut: boolean, wantErr: boolean, stdinOnce: boolean): AttachSession {
  let open = h.stderr ? 2 : 1;
  const done = (): void => {
    if (--open === 0) output.end();
  };
  const forward = (src: Readable, stream: 'stdout' | 'stderr', want: boolean): void => {
    src.on('data', (data: Buffer) => {
      if (want && !output.writableEnded) output.write({ stream, data } satisfies OutputChunk);
    });
    src.on('end', done);
    src.on('close', () => {
      if (!src.readableEnded) done();
    });
    src.on('error', () => undefined);
  };
  forward(h.stdout, 'stdout', wantOut);
  if (h.stderr) forward(h.stderr, 'stderr', tty ? wantOut : wantErr);
  let stdin = h.stdin;
  if (stdin && stdinOnce) {
    const wrapped = new PassThrough();
    wrapped.pipe(stdin);
    stdin = wrapped;
  }
  return {
    tty,
    ...(stdin ? { stdin } : {}),
    output,
    close: () => {
      h.close();
      if (!output.writableEnded) output.end();
    },
  };
}

async function withTimeout(p: Promise<unknown>, ms: number): Promise<boolean> {
  let t: NodeJS.Timeout | undefined;
  const timer = new Promise<false>((r) => (t = setTimeout(() => r(false), ms)));
  const res = await Promise.race([p.then(() => true as const), timer]);
  clearTimeout(t);
  return res;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGUSR1: 10, SIGUSR2: 12, SIGTERM: 15, SIGSTOP: 19, SIGCONT: 18, SIGWINCH: 28 };
function signalNumber(sig: string): string {
  return /^\d+$/.test(sig) ? sig : String(SIGNALS[sig] ?? sig);
}

function parseUntil(v: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const m = /^(\d+)(s|m|h)$/.exec(v);
  if (m) return Date.now() - Number(m[1]) * ({ s: 1000, m: 60_000, h: 3_600_000 } as const)[m[2] as 's' | 'm' | 'h'];
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new InvalidArgumentError(`invalid filter 'until=${v}'`);
  return t;
}

async function freePort(host: string, protocol: string): Promise<number> {
  if (protocol !== 'tcp') {
      return new Promise((resolve, reject) => {
      const s = createSocket('udp4');
      s.on('error', reject);
      s.bind(0, host === '0.0.0.0' ? undefined : host, () => {
        const port = s.address().port;
        s.close(() => resolve(port));
      });
    });
  }
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

async function systemCpuNs(): Promise<number> {
  const text = await readFile('/proc/stat', 'utf8').catch(() => '');
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return 0;
  const ticks = line.split(/\s+/).slice(1, 8).reduce((a, b) => a + Number(b), 0);
  return ticks * 1e7; // USER_HZ = 100
}
