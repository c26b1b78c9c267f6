import { mkdir, rm } from 'node:fs/promises';
import { createServer, type Server as NetServer } from 'node:net';
import { dirname } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { criServices, GrpcError, unaryHandlers } from './grpc.js';
import type { CriDeps } from './deps.js';
import { Sandboxes } from './sandboxes.js';
import { Containers } from './containers.js';
import { Images } from './images.js';
import { execSync } from './exec-sync.js';
import { containerStats, podStats } from './stats.js';
import { KIND_LABEL, matchSelector, readMeta, type ContainerMeta } from './meta.js';
import { StreamingServer } from './streaming/server.js';
import { AuthorityFixingConnection } from './uds-authority.js';

export interface CriServerOptions extends CriDeps {
  /** `unix:///run/berth/cri.sock` or a path. */
  address: string;
  /** Berth's version, for Version's runtime_version. */
  version: string;
  /** Where the streaming server (exec, attach, port-forward URLs) listens; default 127.0.0.1 on a free port. */
  streamingAddress?: { host: string; port: number };
}

/**
 * The CRI v1 gRPC server (runtime.v1.RuntimeService and ImageService on a unix socket)
 * over the engine's services, plus the streaming server its Exec/Attach/PortForward
 * answers point at.
 */
export class CriServer {
  private server = new grpc.Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024, 'grpc.max_send_message_length': 32 * 1024 * 1024 });
  readonly socketPath: string;
  readonly sandboxes: Sandboxes;
  readonly containers: Containers;
  readonly images: Images;
  readonly streaming: StreamingServer;
  private listener: NetServer | undefined;
  private injector: grpc.ConnectionInjector | undefined;

  constructor(private readonly o: CriServerOptions) {
    this.socketPath = o.address.replace(/^unix:\/\//, '');
    this.sandboxes = new Sandboxes(o);
    this.containers = new Containers(o, this.sandboxes);
    this.images = new Images(o);
    this.streaming = new StreamingServer(o, this.sandboxes);
    const { RuntimeService, ImageService } = criServices();
    const onError = (method: string, err: unknown): void => o.log?.info({ method, err: (err as Error)?.message }, 'cri call failed');
    this.server.addService(RuntimeService.service, unaryHandlers(this.runtimeHandlers(), onError));
    this.server.addService(ImageService.service, unaryHandlers(this.imageHandlers(), onError));
  }

  async start(): Promise<void> {
    await mkdir(dirname(this.socketPath), { recursive: true });
    await rm(this.socketPath, { force: true });
    await this.streaming.listen(this.o.streamingAddress ?? { host: '127.0.0.1', port: 0 });
    // our own unix listener, each connection handed to gRPC with its authority made valid (see AuthorityFixingConnection)
    const injector = this.server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    this.injector = injector;
    const listener = createServer((socket) => {
      socket.on('error', () => undefined); // the connection's own handler reports it
      injector.injectConnection(new AuthorityFixingConnection(socket));
    });
    this.listener = listener;
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(this.socketPath, () => {
        listener.off('error', reject);
        listener.on('error', (err) => this.o.log?.warn({ err: err.message }, 'cri listener error'));
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    // stop accepting first; the listener's close completes once gRPC has ended its sessions
    const listenerClosed = new Promise<void>((resolve) => (this.listener ? this.listener.close(() => resolve()) : resolve()));
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    this.server.forceShutdown();
    this.injector?.destroy();
    await listenerClosed;
    await this.streaming.close();
    await rm(this.socketPath, { force: true });
  }

  private runtimeHandlers(): Record<string, (req: any) => Promise<unknown>> {
    const o = this.o;
    return {
      Version: async () => ({ version: '0.1.0', runtime_name: 'berth', runtime_version: o.version, runtime_api_version: 'v1' }),
      Status: async (req) => ({
        status: {
          conditions: [
            { type: 'RuntimeReady', status: true, reason: '', message: '' },
            { type: 'NetworkReady', status: true, reason: '', message: '' },
          ],
        },
        info: req.verbose ? { config: JSON.stringify({ runtime: o.runtime.name, root: o.root, sandboxImage: o.sandboxImage ?? 'busybox' }) } : {},
      }),
      RuntimeConfig: async () => ({ linux: { cgroup_driver: 1 /* CGROUPFS */ } }),
      UpdateRuntimeConfig: async () => ({}),
      RunPodSandbox: (req) => this.sandboxes.run(req),
      StopPodSandbox: (req) => this.sandboxes.stop(req),
      RemovePodSandbox: (req) => this.sandboxes.remove(req),
      PodSandboxStatus: (req) => this.sandboxes.status(req),
      ListPodSandbox: (req) => this.sandboxes.list(req),
      CreateContainer: (req) => this.containers.create(req),
      StartContainer: (req) => this.containers.start(req),
      StopContainer: (req) => this.containers.stop(req),
      RemoveContainer: (req) => this.containers.remove(req),
      ContainerStatus: (req) => this.containers.status(req),
      ListContainers: (req) => this.containers.list(req),
      UpdateContainerResources: (req) => this.containers.update(req),
      ReopenContainerLog: (req) => this.containers.reopenLog(req),
      ExecSync: async (req) => {
        const { c } = await this.containers.inspect(req.container_id);
        if (!c.State.Running) throw new GrpcError(grpc.status.FAILED_PRECONDITION, `container ${c.Id} is not running`);
        return execSync(o, c.Id, req.cmd ?? [], Number(req.timeout ?? 0));
      },
      Exec: async (req) => {
        const { c } = await this.containers.inspect(req.container_id);
        if (!c.State.Running) throw new GrpcError(grpc.status.FAILED_PRECONDITION, `container ${c.Id} is not running`);
        if (!req.stdin && !req.stdout && !req.stderr) throw new GrpcError(grpc.status.INVALID_ARGUMENT, 'one of stdin, stdout, or stderr must be set');
        return { url: this.streaming.offer({ kind: 'exec', id: c.Id, cmd: req.cmd ?? [], tty: !!req.tty, stdin: !!req.stdin, stdout: !!req.stdout, stderr: !!req.stderr && !req.tty }) };
      },
      Attach: async (req) => {
        const { c } = await this.containers.inspect(req.container_id);
        if (!c.State.Running) throw new GrpcError(grpc.status.FAILED_PRECONDITION, `container ${c.Id} is not running`);
        return { url: this.streaming.offer({ kind: 'attach', id: c.Id, cmd: [], tty: !!c.Config.Tty, stdin: !!req.stdin, stdout: !!req.stdout, stderr: !!req.stderr && !c.Config.Tty }) };
      },
      PortForward: async (req) => {
        const { c } = await this.sandboxes.inspect(req.pod_sandbox_id);
        if (!c.State.Running) throw new GrpcError(grpc.status.FAILED_PRECONDITION, `sandbox ${c.Id} is not ready`);
        return { url: this.streaming.offer({ kind: 'portforward', id: c.Id, cmd: [], tty: false, stdin: false, stdout: false, stderr: false, ports: (req.port ?? []).map(Number) }) };
      },
      ContainerStats: async (req) => {
        const { c, meta } = await this.containers.inspect(req.container_id);
        return { stats: await containerStats(o, c.Id, { id: c.Id, metadata: meta.metadata, labels: meta.labels, annotations: meta.annotations }) };
      },
      ListContainerStats: async (req) => ({ stats: await this.listStats(req.filter ?? {}) }),
      PodSandboxStats: async (req) => ({ stats: await this.podStats(req.pod_sandbox_id) }),
      ListPodSandboxStats: async (req) => {
        const f = req.filter ?? {};
        const { items } = (await this.sandboxes.list({ filter: { id: f.id, label_selector: f.label_selector } })) as { items: { id: string }[] };
        return { stats: await Promise.all(items.map((p) => this.podStats(p.id))) };
      },
    };
  }

  private async listStats(f: { id?: string; pod_sandbox_id?: string; label_selector?: Record<string, string> }): Promise<object[]> {
    const mine = await this.statsTargets(f);
    return Promise.all(mine.map((c) => containerStats(this.o, c.id, c.attributes)));
  }

  /** The CRI containers a stats filter names: every state, as containerd lists them (no cpu/memory without a process). */
  private async statsTargets(f: { id?: string; pod_sandbox_id?: string; label_selector?: Record<string, string> }): Promise<{ id: string; attributes: object }[]> {
    const rows = await this.o.engine.containers.list({ all: true, filters: { label: [`${KIND_LABEL}=container`] } });
    const out = [];
    for (const s of rows) {
      const meta = readMeta<ContainerMeta>(s.Labels);
      if (!meta) continue;
      if (f.id && !s.Id.startsWith(f.id)) continue;
      if (f.pod_sandbox_id && !meta.sandboxId.startsWith(f.pod_sandbox_id)) continue;
      if (!matchSelector(meta.labels, f.label_selector)) continue;
      out.push({ id: s.Id, attributes: { id: s.Id, metadata: meta.metadata, labels: meta.labels, annotations: meta.annotations } });
    }
    return out;
  }

  private async podStats(id: string): Promise<object> {
    const { c, meta } = await this.sandboxes.inspect(id);
    return podStats(this.o, c.Id, { id: c.Id, metadata: meta.metadata, labels: meta.labels, annotations: meta.annotations }, await this.statsTargets({ pod_sandbox_id: c.Id }));
  }

  private imageHandlers(): Record<string, (req: any) => Promise<unknown>> {
    return {
      ListImages: (req) => this.images.list(req),
      ImageStatus: (req) => this.images.status(req),
      PullImage: (req) => this.images.pull(req),
      RemoveImage: (req) => this.images.remove(req),
      ImageFsInfo: () => this.images.fsInfo(),
    };
  }
}
