import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { NotFoundError } from '@berth/image-format';
import type { ContainerInspect, HostConfig } from '@berth/engine';
import { isIpcSysctl } from '@berth/runtime';
import { sandboxAnnotations } from './annotations.js';
import type { CriDeps } from './deps.js';
import { isNotFound } from './grpc.js';
import { CONFIG_LABEL, compactConfig, sandboxInfo } from './verbose-info.js';
import { KIND_LABEL, matchSelector, nowNanos, objectLabels, readMeta, toNanos, type SandboxMeta, type ContainerMeta } from './meta.js';

// CRI enums as numbers (see proto/runtime-v1.proto)
export const NS_POD = 0;
export const NS_NODE = 2;
export const NS_TARGET = 3;
const SANDBOX_READY = 0;
const SANDBOX_NOTREADY = 1;
const PROTOCOLS = ['tcp', 'udp', 'sctp'];


/**
 * Pod sandboxes: an engine container running a pause process (`sleep infinity` from the
 * sandbox image, under the engine's init, which reaps) that holds the pod's network namespace (CNI bridge, published host ports,
 * hostname, resolv.conf) while the pod's containers come and go; they join it with
 * `container:<sandbox>`. A pause process rather than a bare namespace because the engine's
 * and the driver's model of a shared namespace is a running container's, and a pod must
 * keep its IP with no container running.
 */
export class Sandboxes {
  /** Set once the engine found no init binary: sandboxes then run the pause process alone. */
  private noInitBinary = false;

  constructor(private readonly d: CriDeps) {}

  async run(req: any): Promise<{ pod_sandbox_id: string }> {
    const cfg = req.config ?? {};
    const md = cfg.metadata ?? {};
    if (!md.name || !md.namespace) throw new NotFoundError('sandbox config must include metadata name and namespace');
    const sec = cfg.linux?.security_context ?? {};
    const nsOpt = sec.namespace_options ?? {};
    const namespaces = { network: nsOpt.network ?? NS_POD, pid: nsOpt.pid ?? NS_POD, ipc: nsOpt.ipc ?? NS_POD };
    const meta: SandboxMeta = {
      metadata: { name: md.name, uid: md.uid ?? '', namespace: md.namespace, attempt: md.attempt ?? 0 },
      labels: cfg.labels ?? {},
      annotations: cfg.annotations ?? {},
      createdAt: nowNanos(),
      runtimeHandler: req.runtime_handler ?? '',
      logDirectory: cfg.log_directory ?? '',
      hostname: cfg.hostname ?? '',
      namespaces,
      ...(cfg.dns_config ? { dns: { servers: cfg.dns_config.servers ?? [], searches: cfg.dns_config.searches ?? [], options: cfg.dns_config.options ?? [] } } : {}),
    };
    if (meta.logDirectory) await mkdir(meta.logDirectory, { recursive: true });
    const hostNet = namespaces.network === NS_NODE;
    const portBindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
    if (!hostNet) {
      for (const p of cfg.port_mappings ?? []) {
        if (!p.host_port || p.host_port <= 0) continue; // a container port alone publishes nothing (as containerd)
        const key = `${p.container_port}/${PROTOCOLS[p.protocol ?? 0] ?? 'tcp'}`;
        (portBindings[key] ??= []).push({ HostIp: p.host_ip ?? '', HostPort: String(p.host_port) });
      }
    }
    const sysctls = { ...(cfg.linux?.sysctls ?? {}) } as Record<string, string>;
    const host: HostConfig = {
      NetworkMode: hostNet ? 'host' : 'bridge',
      PortBindings: portBindings,
      ...(meta.dns ? { Dns: meta.dns.servers, DnsSearch: meta.dns.searches, DnsOptions: meta.dns.options } : {}),
      ...(namespaces.pid === NS_NODE ? { PidMode: 'host' } : {}),
      ...(namespaces.ipc === NS_NODE ? { IpcMode: 'host' } : {}),
      Sysctls: Object.fromEntries(Object.entries(sysctls).filter(([k]) => !(hostNet && k.startsWith('net.')) && !(namespaces.ipc === NS_NODE && isIpcSysctl(k)))),
      Privileged: sec.privileged ?? false,
    };
    const image = this.d.sandboxImage ?? 'busybox';
    const builtin = image === 'busybox';
    if (builtin) await this.d.engine.images.ensureBuiltin('busybox');
    const name = `k8s_POD_${md.name}_${md.namespace}_${md.uid ?? ''}_${md.attempt ?? 0}`;
    // chosen here so that the runtime's annotations can name it
    const id = randomBytes(32).toString('hex');
    const body = {
      Image: image,
      // PID 1 of a pod that shares its PID namespace: named for the binary (`busybox`), not
      // `sleep`, so the pod's containers do not find it among their own sleeps (pgrep)
      Entrypoint: builtin ? ['busybox', 'sleep'] : ['sleep'],
      Cmd: ['infinity'],
      ...(meta.hostname && !hostNet ? { Hostname: meta.hostname } : {}),
      Labels: objectLabels('sandbox', meta, { ...sandboxAnnotations(id, meta.metadata, meta.logDirectory), [CONFIG_LABEL]: JSON.stringify(compactConfig(cfg) ?? {}) }),
      // the pause process has no handler: only SIGKILL ends a PID 1
      StopSignal: 'SIGKILL',
      HostConfig: host,
    };
    // The pod's PID 1 reaps: every orphan of a container that shares the pod's PID namespace
    // is handed to it, and `sleep` would leave each a zombie (Kubernetes' pause reaps them).
    // The engine's `--init` (tini / docker-init / catatonit, static, bind-mounted) is that
    // PID 1, with the pause process its child. A host PID namespace has its own init.
    const reaper = namespaces.pid !== NS_NODE && !this.noInitBinary;
    try {
      return { pod_sandbox_id: await this.startPause(id, name, { ...body, HostConfig: { ...host, Init: reaper } }) };
    } catch (err) {
      if (!reaper || !isInitMissing(err)) throw err;
      this.noInitBinary = true;
      this.d.log?.warn({ pod: name }, 'no init binary (tini, docker-init or catatonit) for pod sandboxes: their PID 1 cannot reap orphaned processes');
      return { pod_sandbox_id: await this.startPause(id, name, body) };
    }
  }

  /** Creates and starts the sandbox's engine container; nothing of it is left on failure. */
  private async startPause(id: string, name: string, body: Parameters<CriDeps['engine']['containers']['create']>[0]): Promise<string> {
    // a namespace holder: the runtime driver may run its own pause instead of this command
    const { Id } = await this.d.engine.containers.create(body, { name, id, namespaceHolder: true });
    try {
      await this.d.engine.containers.start(Id);
    } catch (err) {
      await this.d.engine.containers.remove(Id, { force: true }).catch(() => undefined);
      throw err;
    }
    return Id;
  }

  /** The engine's view of a sandbox; NotFound unless it is one. */
  async inspect(id: string): Promise<{ c: ContainerInspect; meta: SandboxMeta }> {
    const c = await this.d.engine.containers.inspect(id).catch((err: unknown) => {
      throw isNotFound(err) ? new NotFoundError(`an error occurred when try to find sandbox: not found: ${id}`) : err;
    });
    const meta = c.Config.Labels?.[KIND_LABEL] === 'sandbox' ? readMeta<SandboxMeta>(c.Config.Labels) : undefined;
    if (!meta) throw new NotFoundError(`an error occurred when try to find sandbox: not found: ${id}`);
    return { c, meta };
  }

  /** The pod's containers (engine ids), any state. */
  async containersOf(sandboxId: string): Promise<string[]> {
    const list = await this.d.engine.containers.list({ all: true, filters: { label: [`${KIND_LABEL}=container`] } });
    return list.filter((s) => readMeta<ContainerMeta>(s.Labels)?.sandboxId === sandboxId).map((s) => s.Id);
  }

  async stop(req: any): Promise<object> {
    const { c } = await this.inspect(req.pod_sandbox_id);
    // at once, their runs deleted as containerd deletes their tasks; then the pod's network
    // goes with its pause process (CNI DEL: address, hostPort rules), as kubelet expects
    const stops = (await this.containersOf(c.Id)).map((id) => this.d.engine.containers.stop(id, { timeout: 0, release: true }).catch(() => undefined));
    await Promise.all(stops);
    await this.d.engine.containers.stop(c.Id, { timeout: 0, release: true });
    return {};
  }

  async remove(req: any): Promise<object> {
    let c: ContainerInspect;
    try {
      c = (await this.inspect(req.pod_sandbox_id)).c;
    } catch (err) {
      if (isNotFound(err)) return {}; // removing a removed sandbox is fine (kubelet retries)
      throw err;
    }
    // gone from the store at once; snapshots and runtime state are freed right after
    const removals = (await this.containersOf(c.Id)).map((id) => this.d.engine.containers.remove(id, { force: true, releaseInBackground: true }).catch(ignoreNotFound));
    await Promise.all(removals);
    await this.d.engine.containers.remove(c.Id, { force: true, releaseInBackground: true }).catch(ignoreNotFound);
    return {};
  }

  async status(req: any): Promise<object> {
    const { c, meta } = await this.inspect(req.pod_sandbox_id);
    const ready = c.State.Running;
    const ip = ready && meta.namespaces.network !== NS_NODE ? sandboxIp(c) : '';
    return {
      status: {
        id: c.Id,
        metadata: meta.metadata,
        state: ready ? SANDBOX_READY : SANDBOX_NOTREADY,
        created_at: meta.createdAt,
        network: { ip, additional_ips: [] },
        linux: { namespaces: { options: { network: meta.namespaces.network, pid: meta.namespaces.pid, ipc: meta.namespaces.ipc } } },
        labels: meta.labels,
        annotations: meta.annotations,
        runtime_handler: meta.runtimeHandler,
      },
      info: req.verbose ? await sandboxInfo(this.d, c, meta, ip) : {},
    };
  }

  async list(req: any): Promise<object> {
    const f = req.filter ?? {};
    const rows = await this.d.engine.containers.list({ all: true, filters: { label: [`${KIND_LABEL}=sandbox`] } });
    const items = [];
    for (const s of rows) {
      const meta = readMeta<SandboxMeta>(s.Labels);
      if (!meta) continue;
      if (f.id && !s.Id.startsWith(f.id)) continue;
      const state = s.State === 'running' ? SANDBOX_READY : SANDBOX_NOTREADY;
      if (f.state && f.state.state !== state) continue;
      if (!matchSelector(meta.labels, f.label_selector)) continue;
      items.push({ id: s.Id, metadata: meta.metadata, state, created_at: meta.createdAt, labels: meta.labels, annotations: meta.annotations, runtime_handler: meta.runtimeHandler });
    }
    return { items };
  }
}

export function sandboxIp(c: ContainerInspect): string {
  if (c.NetworkSettings?.IPAddress) return c.NetworkSettings.IPAddress;
  for (const n of Object.values(c.NetworkSettings?.Networks ?? {})) if (n.IPAddress) return n.IPAddress;
  return '';
}

/** The engine's answer when `--init` has no binary to run (init-binary.ts). */
const isInitMissing = (err: unknown): boolean => /needs a static init binary|init binary .* is not an executable/.test((err as Error)?.message ?? '');

export function ignoreNotFound(err: unknown): void {
  if (!(isNotFound(err))) throw err;
}

export { toNanos };
