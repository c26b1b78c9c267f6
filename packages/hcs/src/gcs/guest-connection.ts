/**
 * The host's connection to one LCOW utility VM's GCS (hcsshim internal/gcs
 * GuestConnection): listen on the VM's GCS service before the VM starts, accept the
 * guest's connection after, negotiate; then containers and processes over the bridge.
 * Each process' stdin, stdout and stderr are separate hvsock connections: the host
 * listens on a fresh vsock port per pipe (0x40000001 onwards), hands the ports to the
 * guest in ExecuteProcess, and the guest connects to them before it answers.
 */
import type { Duplex, Readable, Writable } from 'node:stream';
import { GCS_SERVICE_LCOW } from '../builders/uvm.js';
import type { LinuxHostedSystem } from '../builders/lcow.js';
import { BridgeProtocolError } from './protocol.js';
import { GcsBridge } from './bridge.js';
import { LINUX_GCS_VSOCK_PORT, vsockServiceId, type ContainerNotification, type GuestModificationRequest, type HvsockListener, type HvsockTransport, type LcowProcessParameters, type VsockStdioRelaySettings } from './messages.js';

export interface GuestConnectionOptions {
  transport: HvsockTransport;
  /** The utility VM's runtime id (HCS Properties.RuntimeId): the VmId hvsock addresses. */
  vmId: string;
  /** How long the guest may take to connect (the GCS, or a process' stdio); default 60 s. */
  acceptTimeoutMs?: number;
}

/** A process in the guest, shaped as an HcsProcess (pid and the stdio the host reads and writes). */
export interface GuestProcessHandle {
  readonly containerId: string;
  readonly pid: number;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** The exit code; rejects when the bridge fails first. */
  readonly exited: Promise<number>;
  exitCode: number | undefined;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (t = setTimeout(() => reject(new BridgeProtocolError(`${what}: the guest did not connect within ${ms} ms`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

export class GuestConnection {
  private nextPort = LINUX_GCS_VSOCK_PORT + 1;
  private readonly exitWaiters = new Map<string, ((n: ContainerNotification) => void)[]>();
  private readonly exits = new Map<string, ContainerNotification>();
  private readonly stdio = new Set<Duplex>();

  private constructor(
    readonly bridge: GcsBridge,
    private readonly options: GuestConnectionOptions,
  ) {}

  /**
   * Listens on the VM's GCS service: call it after HcsCreateComputeSystem (the runtime id
   * exists) and before HcsStartComputeSystem; then `accept()` once the VM started.
   */
  static async listen(options: GuestConnectionOptions): Promise<{ accept(): Promise<GuestConnection>; close(): Promise<void> }> {
    const listener = await options.transport.listen({ vmId: options.vmId, serviceId: GCS_SERVICE_LCOW });
    return {
      accept: async () => {
        try {
          const conn = await withTimeout(listener.accept(), options.acceptTimeoutMs ?? 60_000, 'GCS');
          let gc: GuestConnection | undefined;
          const bridge = new GcsBridge(conn, (n) => gc?.notified(n));
          gc = new GuestConnection(bridge, options);
          await bridge.negotiate().catch((e: unknown) => {
            bridge.close();
            throw e;
          });
          void bridge.failed().then(() => gc!.closeStdio());
          return gc;
        } finally {
          await listener.close();
        }
      },
      close: () => listener.close(),
    };
  }

  private notified(n: ContainerNotification): void {
    this.exits.set(n.ContainerId, n);
    for (const w of this.exitWaiters.get(n.ContainerId)?.splice(0) ?? []) w(n);
  }

  /** Resolves with the exit notification of the container's init; rejects when the bridge fails first. */
  waitContainer(containerId: string): Promise<ContainerNotification> {
    const done = this.exits.get(containerId);
    if (done) return Promise.resolve(done);
    return new Promise((resolve, reject) => {
      const list = this.exitWaiters.get(containerId) ?? [];
      list.push(resolve);
      this.exitWaiters.set(containerId, list);
      void this.bridge.failed().then(reject);
    });
  }

  modify(request: GuestModificationRequest, containerId?: string): Promise<void> {
    return this.bridge.modify(request, containerId);
  }

  /** Create: the guest checks the spec and its root; nothing runs yet. */
  async createContainer(containerId: string, hosted: LinuxHostedSystem): Promise<void> {
    this.exits.delete(containerId);
    await this.bridge.createContainer(containerId, hosted);
  }

  startContainer(containerId: string): Promise<void> {
    return this.bridge.startContainer(containerId);
  }

  /** Whether the container's init has exited (its notification came). */
  hasExited(containerId: string): boolean {
    return this.exits.has(containerId);
  }

  /** Listens on a fresh vsock port of the VM for one pipe. */
  private async ioChannel(): Promise<{ port: number; listener: HvsockListener }> {
    const port = this.nextPort++;
    return { port, listener: await this.options.transport.listen({ vmId: this.options.vmId, serviceId: vsockServiceId(port) }) };
  }

  /** ExecuteProcess, with each asked-for pipe on its own connection; the wait starts at once (hcsshim does the same). */
  async exec(containerId: string, parameters: LcowProcessParameters): Promise<GuestProcessHandle> {
    const wanted = [parameters.CreateStdInPipe, parameters.CreateStdOutPipe, parameters.CreateStdErrPipe];
    const channels = await Promise.all(wanted.map((w) => (w ? this.ioChannel() : undefined)));
    const relay: VsockStdioRelaySettings = {};
    if (channels[0]) relay.StdIn = channels[0].port;
    if (channels[1]) relay.StdOut = channels[1].port;
    if (channels[2]) relay.StdErr = channels[2].port;
    const ms = this.options.acceptTimeoutMs ?? 60_000;
    const accepted = channels.map((c, i) => (c ? withTimeout(c.listener.accept(), ms, ['stdin', 'stdout', 'stderr'][i]!) : Promise.resolve(null)));
    accepted.forEach((a) => a.catch(() => undefined));
    let pid: number;
    let conns: (Duplex | null)[];
    try {
      [pid, ...conns] = await Promise.all([this.bridge.executeProcess(containerId, parameters, relay), ...accepted]);
    } catch (e) {
      for (const a of accepted) void a.then((d) => d?.destroy(), () => undefined);
      throw e;
    } finally {
      await Promise.all(channels.map((c) => c?.listener.close()));
    }
    for (const c of conns) {
      if (!c) continue;
      c.on('error', () => undefined);
      this.stdio.add(c);
      c.on('close', () => this.stdio.delete(c));
    }
    const [stdin, stdout, stderr] = conns;
    // the host only writes stdin and only reads stdout/stderr
    stdin?.resume();
    const handle: GuestProcessHandle = {
      containerId,
      pid,
      stdin: stdin ?? null,
      stdout: stdout ?? null,
      stderr: stderr ?? null,
      exitCode: undefined,
      exited: this.bridge.waitForProcess(containerId, pid).then((code) => {
        handle.exitCode = code;
        return code;
      }),
    };
    handle.exited.catch(() => undefined);
    return handle;
  }

  signal(p: GuestProcessHandle, signal?: number): Promise<void> {
    return this.bridge.signalProcess(p.containerId, p.pid, signal);
  }

  resize(p: GuestProcessHandle, size: { height: number; width: number }): Promise<void> {
    return this.bridge.resizeConsole(p.containerId, p.pid, size);
  }

  private closeStdio(): void {
    for (const s of this.stdio) s.destroy();
  }

  /** Closes the bridge and every stdio connection. */
  close(): void {
    this.bridge.close();
    this.closeStdio();
  }
}
