import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { InvalidArgumentError, NotFoundError } from '@berth/image-format';
import type { ContainerInspect, HostConfig } from '@berth/engine';
import { containerAnnotations } from './annotations.js';
import type { CriDeps } from './deps.js';
import { GrpcError, isNotFound } from './grpc.js';
import { KIND_LABEL, SANDBOX_LABEL, matchSelector, nowNanos, objectLabels, readMeta, toNanos, type ContainerMeta } from './meta.js';
import { isIpcSysctl } from '@berth/runtime';
import { NS_NODE, NS_POD, NS_TARGET, ignoreNotFound, type Sandboxes } from './sandboxes.js';
import { securityOptions } from './security.js';
import { CONFIG_LABEL, compactConfig, containerInfo, containerResources } from './verbose-info.js';

const CONTAINER_CREATED = 0;
const CONTAINER_RUNNING = 1;
const CONTAINER_EXITED = 2;
const PROPAGATION = ['rprivate', 'rslave', 'rshared'];

export class Containers {
  /** The daemon's own oom_score_adj: the floor a container may ask for (root lacks CAP_SYS_RESOURCE to go lower). */
  private ownOomScoreAdj: Promise<number>;

  constructor(
    private readonly d: CriDeps,
    private readonly sandboxes: Sandboxes,
  ) {
    this.ownOomScoreAdj = readFile('/proc/self/oom_score_adj', 'utf8').then((s) => Number.parseInt(s.trim(), 10) || 0, () => 0);
  }

  async create(req: any): Promise<{ container_id: string }> {
    const cfg = req.config ?? {};
    const md = cfg.metadata;
    if (!md?.name) throw new InvalidArgumentError('container config must include metadata name');
    const { c: sandbox, meta: pod } = await this.sandboxes.inspect(req.pod_sandbox_id);
    const imageRef = cfg.image?.image;
    if (!imageRef) throw new InvalidArgumentError('container config must include an image');
    const image = await this.d.engine.images.inspect(imageRef);
    const lx = cfg.linux ?? {};
    const sc = lx.security_context ?? {};
    const ns = sc.namespace_options ?? {};
    const podNs = pod.namespaces;
    const logPath = pod.logDirectory && cfg.log_path ? join(pod.logDirectory, cfg.log_path) : '';
    if (logPath) await mkdir(dirname(logPath), { recursive: true });
    const meta: ContainerMeta = {
      sandboxId: sandbox.Id,
      metadata: { name: md.name, attempt: md.attempt ?? 0 },
      labels: cfg.labels ?? {},
      annotations: cfg.annotations ?? {},
      createdAt: nowNanos(),
      image: imageRef,
      imageRef: image.Id,
      logPath,
      mounts: (cfg.mounts ?? []).map((m: any) => ({ container_path: m.container_path, host_path: m.host_path, readonly: !!m.readonly, selinux_relabel: !!m.selinux_relabel, propagation: m.propagation ?? 0 })),
    };
    const user = runAsUser(sc);
    const res = lx.resources ?? {};
    const host: HostConfig = {
      NetworkMode: podNs.network === NS_NODE ? 'host' : `container:${sandbox.Id}`,
      ...pidMode(ns, podNs.pid, sandbox.Id),
      ...((ns.ipc ?? podNs.ipc) === NS_NODE ? { IpcMode: 'host' } : {}),
      // the pod's IPC sysctls, as each container has its own IPC namespace here
      Sysctls: Object.fromEntries(Object.entries(sandbox.HostConfig.Sysctls ?? {}).filter(([k]) => isIpcSysctl(k) && podNs.ipc !== NS_NODE)),
      Binds: meta.mounts.map((m) => `${m.host_path}:${m.container_path}:${m.readonly ? 'ro' : 'rw'},${PROPAGATION[m.propagation] ?? 'rprivate'}`),
      Devices: (cfg.devices ?? []).map((dv: any) => ({ PathOnHost: dv.host_path, PathInContainer: dv.container_path, CgroupPermissions: dv.permissions || 'rwm' })),
      ...(pod.dns ? { Dns: pod.dns.servers, DnsSearch: pod.dns.searches, DnsOptions: pod.dns.options } : {}),
      ...(await securityOptions(sc)),
      ...(await this.resources(res, md.name)),
    };
    const env = (cfg.envs ?? []).map((e: any) => `${e.key}=${e.value}`);
    const command: string[] = cfg.command ?? [];
    const args: string[] = cfg.args ?? [];
    const name = `k8s_${md.name}_${pod.metadata.name}_${pod.metadata.namespace}_${pod.metadata.uid}_${md.attempt ?? 0}`;
    const { Id } = await this.d.engine.containers.create(
      {
        Image: image.Id,
        ...(command.length > 0 ? { Entrypoint: command, Cmd: args } : args.length > 0 ? { Cmd: args } : {}),
        Env: env,
        ...(cfg.working_dir ? { WorkingDir: cfg.working_dir } : {}),
        ...(user !== undefined ? { User: user } : {}),
        ...(pod.hostname && podNs.network !== NS_NODE ? { Hostname: pod.hostname } : {}),
        Tty: !!cfg.tty,
        OpenStdin: !!cfg.stdin,
        StdinOnce: !!cfg.stdin_once,
        AttachStdin: !!cfg.stdin,
        Labels: objectLabels('container', meta, {
          ...containerAnnotations(sandbox.Id, pod.metadata, md.name, image.RepoTags?.[0] ?? imageRef),
          [SANDBOX_LABEL]: sandbox.Id,
          [CONFIG_LABEL]: JSON.stringify(compactConfig(cfg) ?? {}),
        }),
        HostConfig: host,
      },
      { name, ...(logPath ? { logPath } : {}) },
    );
    return { container_id: Id };
  }

  private async resources(res: any, name: string): Promise<HostConfig> {
    const out: HostConfig = {};
    const n = (v: unknown): number => Number(v ?? 0);
    if (n(res.memory_limit_in_bytes) > 0) out.Memory = n(res.memory_limit_in_bytes);
    if (n(res.memory_swap_limit_in_bytes) > 0) out.MemorySwap = n(res.memory_swap_limit_in_bytes);
    if (n(res.cpu_shares) > 0) out.CpuShares = n(res.cpu_shares);
    if (n(res.cpu_quota) > 0) out.CpuQuota = n(res.cpu_quota);
    if (n(res.cpu_period) > 0) out.CpuPeriod = n(res.cpu_period);
    if (res.cpuset_cpus) out.CpusetCpus = res.cpuset_cpus;
    if (res.cpuset_mems) out.CpusetMems = res.cpuset_mems;
    let oom = n(res.oom_score_adj);
    const floor = await this.ownOomScoreAdj;
    if (oom < floor) {
      // containerd's restrict_oom_score_adj: without CAP_SYS_RESOURCE nobody may go below the daemon's own
      this.d.log?.warn({ container: name, requested: oom, applied: floor }, 'oom_score_adj below the daemon\'s own: clamped (restrict_oom_score_adj)');
      oom = floor;
    }
    if (oom !== 0) out.OomScoreAdj = oom;
    return out;
  }

  /** The engine's view of a CRI container; NotFound unless it is one. */
  async inspect(id: string): Promise<{ c: ContainerInspect; meta: ContainerMeta }> {
    const c = await this.d.engine.containers.inspect(id).catch((err: unknown) => {
      throw isNotFound(err) ? new NotFoundError(`an error occurred when try to find container "${id}": not found`) : err;
    });
    const meta = c.Config.Labels?.[KIND_LABEL] === 'container' ? readMeta<ContainerMeta>(c.Config.Labels) : undefined;
    if (!meta) throw new NotFoundError(`an error occurred when try to find container "${id}": not found`);
    return { c, meta };
  }

  async start(req: any): Promise<object> {
    const { c } = await this.inspect(req.container_id);
    if (c.State.Status !== 'created') throw new GrpcError(grpc.status.FAILED_PRECONDITION, `container ${c.Id} is in ${c.State.Status} state: only created containers start`);
    await this.d.engine.containers.start(c.Id);
    return {};
  }

  async stop(req: any): Promise<object> {
    const { c } = await this.inspect(req.container_id);
    await this.d.engine.containers.stop(c.Id, { timeout: Number(req.timeout ?? 0) });
    return {};
  }

  async remove(req: any): Promise<object> {
    let id: string;
    try {
      id = (await this.inspect(req.container_id)).c.Id;
    } catch (err) {
      if (isNotFound(err)) return {};
      throw err;
    }
    await this.d.engine.containers.remove(id, { force: true, releaseInBackground: true }).catch(ignoreNotFound);
    return {};
  }

  async status(req: any): Promise<object> {
    const { c, meta } = await this.inspect(req.container_id);
    const state = stateOf(c.State.Status);
    const exited = state === CONTAINER_EXITED;
    return {
      status: {
        id: c.Id,
        metadata: meta.metadata,
        state,
        created_at: meta.createdAt,
        started_at: state === CONTAINER_CREATED ? '0' : toNanos(c.State.StartedAt),
        finished_at: exited ? toNanos(c.State.FinishedAt) : '0',
        exit_code: exited ? c.State.ExitCode : 0,
        image: { image: meta.image, annotations: {} },
        image_ref: meta.imageRef,
        reason: exited ? (c.State.OOMKilled ? 'OOMKilled' : c.State.ExitCode === 0 ? 'Completed' : 'Error') : '',
        message: c.State.Error ?? '',
        labels: meta.labels,
        annotations: meta.annotations,
        mounts: meta.mounts,
        log_path: meta.logPath,
        resources: containerResources(c.HostConfig),
      },
      info: req.verbose ? await containerInfo(this.d, c, meta) : {},
    };
  }

  async list(req: any): Promise<object> {
    const f = req.filter ?? {};
    const rows = await this.d.engine.containers.list({ all: true, filters: { label: [`${KIND_LABEL}=container`] } });
    const containers = [];
    for (const s of rows) {
      const meta = readMeta<ContainerMeta>(s.Labels);
      if (!meta) continue;
      const state = stateOf(s.State);
      if (f.id && !s.Id.startsWith(f.id)) continue;
      if (f.pod_sandbox_id && !meta.sandboxId.startsWith(f.pod_sandbox_id)) continue;
      if (f.state && f.state.state !== state) continue;
      if (!matchSelector(meta.labels, f.label_selector)) continue;
      containers.push({ id: s.Id, pod_sandbox_id: meta.sandboxId, metadata: meta.metadata, image: { image: meta.image, annotations: {} }, image_ref: meta.imageRef, state, created_at: meta.createdAt, labels: meta.labels, annotations: meta.annotations });
    }
    return { containers };
  }

  async update(req: any): Promise<object> {
    const { c, meta } = await this.inspect(req.container_id);
    await this.d.engine.containers.update(c.Id, await this.resources(req.linux ?? {}, meta.metadata.name));
    return {};
  }

  async reopenLog(req: any): Promise<object> {
    const { c, meta } = await this.inspect(req.container_id);
    if (!c.State.Running) throw new GrpcError(grpc.status.FAILED_PRECONDITION, `container ${c.Id} is not running`);
    if (!meta.logPath) return {};
    if (!this.d.runtime.reopenLog) throw new GrpcError(grpc.status.UNIMPLEMENTED, `the runtime driver ${this.d.runtime.name} cannot reopen logs`);
    await this.d.runtime.reopenLog(c.Id);
    return {};
  }
}

/**
 * The container's PID namespace as containerd gives it: unset or POD shares the pod's (the
 * sandbox's pause process is its PID 1), CONTAINER has its own, NODE the host's, TARGET
 * another container's.
 */
function pidMode(ns: { pid?: number; target_id?: string }, podPid: number, sandboxId: string): HostConfig {
  const mode = ns.pid ?? NS_POD;
  if (mode === NS_NODE || (mode === NS_POD && podPid === NS_NODE)) return { PidMode: 'host' };
  if (mode === NS_POD) return { PidMode: `container:${sandboxId}` };
  if (mode === NS_TARGET) {
    if (!ns.target_id) throw new InvalidArgumentError('pid namespace TARGET needs a target_id');
    return { PidMode: `container:${ns.target_id}` };
  }
  return {};
}

function stateOf(status: string): number {
  if (status === 'created') return CONTAINER_CREATED;
  if (status === 'running' || status === 'paused' || status === 'restarting') return CONTAINER_RUNNING;
  return CONTAINER_EXITED;
}

/** The process user the security context asks for, in Docker's `user[:group]` form. */
function runAsUser(sc: any): string | undefined {
  const uid = sc.run_as_user ? String(sc.run_as_user.value) : undefined;
  const gid = sc.run_as_group ? String(sc.run_as_group.value) : undefined;
  const name = sc.run_as_username || undefined;
  if (gid !== undefined && uid === undefined && name === undefined) throw new InvalidArgumentError('user group is specified without user');
  const u = uid ?? name;
  if (u === undefined) return undefined;
  return gid !== undefined ? `${u}:${gid}` : u;
}
