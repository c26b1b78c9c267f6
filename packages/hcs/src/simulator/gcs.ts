/**
 * The simulated LCOW guest's GCS: it connects out to the host on the GCS service id of
 * its VM (vsock port 0x40000000) when the VM starts, and serves the bridge protocol as
 * hcsshim's Linux GCS does: negotiate (version 4 only), ModifySettings (SCSI disks
 * mounted in the guest, the container's combined layers), Create with the OCI spec,
 * Start, ExecuteProcess (init without OciProcess, exec with it; stdio connected out to
 * the vsock ports the host gave), WaitForProcess, SignalProcess, ResizeConsole,
 * GetProperties, ShutdownGraceful/Forced, DeleteContainerState; an exit notification when
 * a container's init exits; E_NOTIMPL for a request it does not know. It answers each
 * request when it is done, so a pending WaitForProcess holds up nothing else.
 * Processes are GuestProcess programs (guest.ts), not Linux.
 */
import { existsSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { HRESULT, HcsError } from '../hresult.js';
import { GCS_SERVICE_LCOW } from '../builders/uvm.js';
import type { LinuxHostedSystem } from '../builders/lcow.js';
import type { PropertyQuery } from '../types.js';
import { encodeMessage, messageKind, MessageDecoder, NOTIFICATION_TYPE, PROTOCOL_VERSION, responseType, rpcOf, type BridgeMessage } from '../gcs/protocol.js';
import { WAIT_INFINITE, vsockServiceId, type GuestModificationRequest, type LcowCombinedLayers, type LcowMappedVirtualDisk, type LcowGuestCapabilities, type LcowProcessParameters, type VsockStdioRelaySettings } from '../gcs/messages.js';
import { DEFAULT_GUEST_USERS, GuestProcess, guestProgram, resolveGuestUser, type GuestOptions } from './guest.js';
import type { SimHvsock } from './hvsock.js';
import { readFromLayers } from './ext4-reader.js';
import { GuestRefusal, GuestResources, type GuestVmDevices } from './guest-resources.js';

export interface SimGcsVm extends GuestVmDevices {
  runtimeId: string;
  /** SCSI LUN → host path of what HCS attached to the VM. */
  scsi: Map<string, string>;
  thawed(): Promise<void>;
}

interface SimContainer {
  id: string;
  config: LinuxHostedSystem;
  state: 'Created' | 'Running' | 'Stopped';
  init?: GuestProcess;
  processes: Map<number, GuestProcess>;
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** What the GCS answers a request with when it fails: an HRESULT and its message. */
class GcsFailure extends Error {
  constructor(
    readonly hresult: number,
    message: string,
  ) {
    super(message);
  }
}
const gcsError = (hr: number, message: string) => new GcsFailure(hr, message);

export class SimGcs {
  private conn: Duplex | undefined;
  private readonly decoder = new MessageDecoder();
  private negotiated = false;
  private readonly disks = new Map<string, LcowMappedVirtualDisk>();
  private readonly roots = new Map<string, LcowCombinedLayers>();
  private readonly containers = new Map<string, SimContainer>();
  /** Network namespaces and Plan9 mounts (guest-resources.ts). */
  readonly resources: GuestResources;
  private readonly stdio = new Set<Duplex>();
  private nextPid = 100;
  private stopped = false;
  /** Requests it received, by RPC name (what the tests inspect). */
  readonly received: { rpc: string; body: Record<string, unknown> }[] = [];

  constructor(
    private readonly vm: SimGcsVm,
    private readonly hvsock: SimHvsock,
    private readonly options: GuestOptions & { guestCapabilities?: Partial<LcowGuestCapabilities> },
  ) {
    this.resources = new GuestResources(vm);
  }

  /** The guest booted: connect to the host's listener (hcsshim's host listens before it starts the VM). */
  connect(): void {
    try {
      this.conn = this.hvsock.connect(this.vm.runtimeId, GCS_SERVICE_LCOW);
    } catch {
      return; // nobody listens: a real GCS would retry; this VM then just has no bridge
    }
    const conn = this.conn;
    conn.on('error', () => undefined);
    conn.on('data', (chunk: Buffer) => {
      let msgs: BridgeMessage[];
      try {
        msgs = this.decoder.push(chunk);
      } catch {
        conn.destroy(); // a broken frame: the GCS drops the connection
        return;
      }
      for (const m of msgs) void this.serve(m);
    });
    conn.on('end', () => conn.end());
  }

  /** The VM stopped: every process dies and every connection closes. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const c of this.containers.values()) for (const p of c.processes.values()) p.terminate(137);
    for (const s of this.stdio) s.destroy();
    this.conn?.destroy();
  }

  /** The guest's side of the connection (tests break it to play a guest that dies). */
  get connection(): Duplex | undefined {
    return this.conn;
  }

  private send(m: BridgeMessage): void {
    if (this.conn && !this.conn.destroyed && !this.stopped) this.conn.write(encodeMessage(m));
  }

  private async serve(m: BridgeMessage): Promise<void> {
    const body = (m.body ?? {}) as Record<string, unknown>;
    const rpc = messageKind(m.type) === 'request' ? rpcOf(m.type) : undefined;
    this.received.push({ rpc: rpc ?? `0x${m.type.toString(16)}`, body });
    const reply = (b: Record<string, unknown>) => this.send({ type: responseType(m.type), id: m.id, body: { ActivityId: body.ActivityId, ...b } });
    try {
      if (!rpc) throw gcsError(HRESULT.E_NOTIMPL, `bridge: function not supported, header type: 0x${m.type.toString(16)}`);
      if (rpc !== 'NegotiateProtocol' && !this.negotiated) throw gcsError(HRESULT.HCS_E_PROTOCOL_ERROR, 'the protocol has not been negotiated');
      await this.vm.thawed();
      reply({ Result: 0, ...(await this.handle(rpc, String(body.ContainerId ?? ''), body)) });
    } catch (e) {
      const hr = e instanceof GcsFailure || e instanceof HcsError || e instanceof GuestRefusal ? e.hresult : HRESULT.E_INVALIDARG;
      reply({ Result: hr | 0, ErrorMessage: (e as Error).message, ErrorRecords: [{ Result: hr | 0, Message: (e as Error).message }] });
    }
  }

  private container(id: string): SimContainer {
    const c = this.containers.get(id);
    if (!c) throw gcsError(HRESULT.HCS_E_SYSTEM_NOT_FOUND, `container ${id} does not exist`);
    return c;
  }

  private async handle(rpc: string, id: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    switch (rpc) {
      case 'NegotiateProtocol': {
        const min = Number(body.MinimumVersion);
        const max = Number(body.MaximumVersion);
        if (!(min <= PROTOCOL_VERSION && PROTOCOL_VERSION <= max)) throw gcsError(HRESULT.HCS_E_UNSUPPORTED_PROTOCOL_VERSION, `versions ${min}-${max}: the GCS speaks ${PROTOCOL_VERSION}`);
        this.negotiated = true;
        return {
          Version: PROTOCOL_VERSION,
          Capabilities: {
            SendHostCreateMessage: false,
            SendHostStartMessage: false,
            HvSocketConfigOnStartup: false,
            SupportedSchemaVersions: [{ Major: 2, Minor: 1 }],
            RuntimeOsType: 'Linux',
            // hcsshim's Linux GCS (internal/guest/bridge/bridge_v2.go)
            GuestDefinedCapabilities: { NamespaceAddRequestSupported: true, SignalProcessSupported: true, DumpStacksSupported: true, DeleteContainerStateSupported: true, ...this.options.guestCapabilities },
          },
        };
      }
      case 'ModifySettings':
        this.modify(body.Request as GuestModificationRequest);
        return {};
      case 'Create':
        this.create(id, body.ContainerConfig);
        return {};
      case 'Start': {
        const c = this.container(id);
        if (c.state !== 'Created') throw gcsError(HRESULT.HCS_E_INVALID_STATE, `container ${id} is ${c.state}`);
        c.state = 'Running';
        return {};
      }
      case 'ExecuteProcess': {
        const settings = body.Settings as { ProcessParameters: string; VsockStdioRelaySettings?: VsockStdioRelaySettings };
        return { ProcessId: await this.execute(this.container(id), JSON.parse(settings.ProcessParameters) as LcowProcessParameters, settings.VsockStdioRelaySettings ?? {}) };
      }
      case 'WaitForProcess': {
        const p = this.process(id, Number(body.ProcessId));
        const timeout = Number(body.TimeoutInMs ?? WAIT_INFINITE);
        if (timeout !== WAIT_INFINITE) {
          let t: NodeJS.Timeout | undefined;
          const timedOut = new Promise<'timeout'>((r) => (t = setTimeout(() => r('timeout'), timeout)));
          const r = await Promise.race([p.exited, timedOut]);
          clearTimeout(t);
          if (r === 'timeout') throw gcsError(HRESULT.ERROR_TIMEOUT, `process ${p.spec.pid} did not exit within ${timeout} ms`);
        }
        return { ExitCode: await p.exited };
      }
      case 'SignalProcess': {
        const p = this.process(id, Number(body.ProcessId));
        if (!p.running) throw gcsError(HRESULT.ERROR_NOT_FOUND, `process ${p.spec.pid} has exited`);
        const n = (body.Options as { Signal?: number } | undefined)?.Signal ?? 9;
        if (!(n > 0 && n < 65)) throw gcsError(HRESULT.E_INVALIDARG, `${n} is not a signal`);
        p.signal(n);
        return {};
      }
      case 'ResizeConsole':
        this.process(id, Number(body.ProcessId)).resize({ height: Number(body.Height), width: Number(body.Width) });
        return {};
      case 'GetProperties':
        return { Properties: JSON.stringify(this.properties(this.container(id), JSON.parse(String(body.Query ?? '{}')) as PropertyQuery)) };
      case 'ShutdownGraceful':
      case 'ShutdownForced': {
        const c = this.container(id);
        if (rpc === 'ShutdownGraceful') c.init?.signal(15);
        else for (const p of c.processes.values()) p.signal(9);
        return {};
      }
      case 'DeleteContainerState': {
        const c = this.container(id);
        if (c.state === 'Running') throw gcsError(HRESULT.HCS_E_INVALID_STATE, `container ${id} is running`);
        this.containers.delete(id);
        return {};
      }
      default:
        throw gcsError(HRESULT.E_NOTIMPL, `${rpc} is not implemented by this GCS`);
    }
  }

  private process(id: string, pid: number): GuestProcess {
    const p = this.container(id).processes.get(pid);
    if (!p) throw gcsError(HRESULT.ERROR_NOT_FOUND, `no process ${pid} in ${id}`);
    return p;
  }

  private modify(r: GuestModificationRequest): void {
    const add = r.RequestType === 'Add';
    if (r.ResourceType === 'MappedVirtualDisk') {
      const d = r.Settings as LcowMappedVirtualDisk;
      if (!d?.MountPath) throw gcsError(HRESULT.E_INVALIDARG, 'MappedVirtualDisk needs a MountPath');
      if (!add) return void this.disks.delete(d.MountPath);
      if ((d.Controller ?? 0) !== 0 || !this.vm.scsi.has(String(d.Lun ?? 0))) throw gcsError(HRESULT.ERROR_PATH_NOT_FOUND, `no disk at SCSI ${d.Controller ?? 0}:${d.Lun ?? 0}`);
      if (this.disks.has(d.MountPath)) throw gcsError(HRESULT.ERROR_ALREADY_EXISTS, `${d.MountPath} is mounted`);
      this.disks.set(d.MountPath, { ...d });
      return;
    }
    if (r.ResourceType === 'CombinedLayers') {
      const l = r.Settings as LcowCombinedLayers;
      if (!l?.ContainerRootPath) throw gcsError(HRESULT.E_INVALIDARG, 'CombinedLayers needs a ContainerRootPath');
      if (!add) return void this.roots.delete(l.ContainerRootPath);
      for (const layer of l.Layers ?? []) if (!this.disks.has(layer.Path)) throw gcsError(HRESULT.ERROR_PATH_NOT_FOUND, `layer ${layer.Path} is not a mounted disk`);
      const scratch = [...this.disks.entries()].find(([mount]) => l.ScratchPath === mount || l.ScratchPath.startsWith(`${mount}/`));
      if (!scratch || scratch[1].ReadOnly) throw gcsError(HRESULT.ERROR_PATH_NOT_FOUND, `scratch ${l.ScratchPath} is not on a writable mounted disk`);
      this.roots.set(l.ContainerRootPath, structuredClone(l));
      return;
    }
    if (this.resources.modify(r)) return;
    throw gcsError(HRESULT.E_NOTIMPL, `modify ${String(r?.ResourceType)} is not supported by this GCS`);
  }

  private create(id: string, config: unknown): void {
    if (this.containers.has(id)) throw gcsError(HRESULT.HCS_E_SYSTEM_ALREADY_EXISTS, `container ${id} already exists`);
    if (typeof config !== 'string') throw gcsError(HRESULT.HCS_E_INVALID_JSON, 'ContainerConfig is JSON in a string');
    const hosted = JSON.parse(config) as LinuxHostedSystem;
    const keys = Object.keys(hosted).sort().join(',');
    if (keys !== 'OciBundlePath,OciSpecification,SchemaVersion,ScratchDirPath') throw gcsError(HRESULT.HCS_E_INVALID_JSON, `a Linux hosted system has SchemaVersion, OciBundlePath, OciSpecification and ScratchDirPath, not ${keys}`);
    const spec = hosted.OciSpecification;
    if (!Array.isArray(spec?.process?.args) || spec.process.args.length === 0) throw gcsError(HRESULT.E_INVALIDARG, 'OciSpecification.process.args is empty');
    if (!this.roots.has(spec.root?.path)) throw gcsError(HRESULT.ERROR_PATH_NOT_FOUND, `root ${spec.root?.path} is not combined layers`);
    this.resources.checkMounts(spec);
    this.containers.set(id, { id, config: hosted, state: 'Created', processes: new Map() });
  }

  private async execute(c: SimContainer, params: LcowProcessParameters, relay: VsockStdioRelaySettings): Promise<number> {
    if (c.state !== 'Running') throw gcsError(HRESULT.HCS_E_INVALID_STATE, `container ${c.id} is ${c.state}`);
    const isInit = !params.OciProcess;
    if (isInit && c.init) throw gcsError(HRESULT.HCS_E_INVALID_STATE, `container ${c.id} already has its init process`);
    if (!isInit && !c.init?.running) throw gcsError(HRESULT.HCS_E_INVALID_STATE, `container ${c.id} is not running`);
    const oci = params.OciProcess ?? c.config.OciSpecification.process;
    const users = this.options.users ?? DEFAULT_GUEST_USERS;
    const user = oci.user.username ? resolveGuestUser(oci.user.username, users) : { ...(users.find((u) => u.uid === oci.user.uid) ?? { name: String(oci.user.uid), uid: oci.user.uid, gid: oci.user.gid, home: '/' }), gid: oci.user.gid };
    if (!user) throw gcsError(HRESULT.ERROR_NONE_MAPPED, `unable to find user ${oci.user.username ?? ''}: no matching entries in passwd file`);
    const env = [...oci.env];
    if (!env.some((e) => e.startsWith('PATH='))) env.push(`PATH=${DEFAULT_PATH}`);
    if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${user.home}`);
    // the stdio relays connect out before the process runs (hcsshim's GCS connects, then starts)
    const connect = (port: number | undefined, wanted: boolean | undefined): Duplex | null => {
      if (!wanted) return null;
      if (!port) throw gcsError(HRESULT.E_INVALIDARG, 'a pipe was asked for without a vsock port');
      const s = this.hvsock.connect(this.vm.runtimeId, vsockServiceId(port));
      s.on('error', () => undefined);
      this.stdio.add(s);
      s.on('close', () => this.stdio.delete(s));
      return s;
    };
    const stdin = connect(relay.StdIn, params.CreateStdInPipe);
    const stdout = connect(relay.StdOut, params.CreateStdOutPipe);
    const stderr = connect(relay.StdErr, params.CreateStdErrPipe);
    const tty = params.EmulateConsole ?? oci.terminal ?? false;
    const size = params.ConsoleSize ? { height: params.ConsoleSize[0]!, width: params.ConsoleSize[1]! } : oci.consoleSize;
    const pid = this.nextPid++;
    const proc = new GuestProcess(
      {
        pid,
        args: [...oci.args],
        env,
        cwd: oci.cwd || '/',
        user,
        tty,
        consoleSize: size,
        stdin: !!stdin,
        stdout: !!stdout,
        stderr: !!stderr,
        initArgs: c.init?.spec.args ?? [...oci.args],
        ...this.rootReader(c),
        thawed: () => this.vm.thawed(),
      },
      guestProgram([...oci.args], this.options),
      this.options,
    );
    if (stdin && proc.stdin) {
      stdin.pipe(proc.stdin);
    }
    if (stdout) proc.stdout ? proc.stdout.pipe(stdout) : stdout.end();
    if (stderr) proc.stderr ? proc.stderr.pipe(stderr) : stderr.end();
    c.processes.set(pid, proc);
    if (isInit) {
      c.init = proc;
      void proc.exited.then((code) => {
        c.state = 'Stopped';
        for (const p of c.processes.values()) p.terminate(137);
        this.send({ type: NOTIFICATION_TYPE, id: 0n, body: { ContainerId: c.id, ActivityId: '00000000-0000-0000-0000-000000000000', Type: 'UnexpectedExit', Operation: 'None', Result: code } });
      });
    }
    void proc.exited.then(() => stdin?.destroy());
    return pid;
  }

  /**
   * The container's layers as the guest mounted them: the host files of their SCSI disks,
   * topmost first, when those are real files (a local path, as with the simulator's onDisk).
   */
  private rootReader(c: SimContainer): { readRoot?: (path: string) => Buffer | undefined } {
    const root = this.roots.get(c.config.OciSpecification.root.path);
    const disks = (root?.Layers ?? []).map((l) => this.vm.scsi.get(String(this.disks.get(l.Path)?.Lun ?? -1)));
    const layers = disks.length > 0 && disks.every((d): d is string => !!d && d.startsWith('/') && existsSync(d));
    const spec = c.config.OciSpecification;
    return { readRoot: (path) => this.resources.read(spec, path) ?? (layers ? readFromLayers(disks as string[], path) : undefined) };
  }

  /** The network adapters a container's namespace holds in this guest (what its processes would see as interfaces). */
  networkOf(containerId: string): ReturnType<GuestResources['adaptersOf']> {
    const c = this.containers.get(containerId);
    return c ? this.resources.adaptersOf(c.config.OciSpecification) : [];
  }

  /** ProcessList as HCS reports it; Statistics as the Linux GCS does: cgroup Metrics (nanoseconds, bytes). */
  private properties(c: SimContainer, query: PropertyQuery): Record<string, unknown> {
    const running = [...c.processes.values()].filter((p) => p.running);
    const types = query.PropertyTypes ?? [];
    const lifeMs = c.init ? Date.now() - c.init.startedAt : 0;
    return {
      ...(types.includes('ProcessList')
        ? {
            ProcessList: running.map((p) => ({
              ProcessId: p.spec.pid,
              ImageName: (p.spec.args[0] ?? '').split('/').pop() ?? '',
              CreateTimestamp: new Date(p.startedAt).toISOString(),
              UserTime100ns: (Date.now() - p.startedAt) * 70,
              KernelTime100ns: (Date.now() - p.startedAt) * 30,
              MemoryCommitBytes: 4 << 20,
              MemoryWorkingSetPrivateBytes: 1_536 << 10,
            })),
          }
        : {}),
      ...(types.includes('Statistics')
        ? { Metrics: { cpu: { usage: { total: lifeMs * 10_000, user: lifeMs * 7_000, kernel: lifeMs * 3_000 } }, memory: { usage: { usage: (4 * running.length) << 20, max: (4 * c.processes.size) << 20 } }, pids: { current: running.length } } }
        : {}),
    };
  }
}
