/**
 * The host side of the bridge (hcsshim internal/gcs/bridge.go): requests with ids,
 * responses matched to them, container notifications to a listener, over any duplex
 * byte stream (on Windows the hvsock connection the GCS makes to service
 * 40000000-facb-11e6-bd58-64006a7986d3; on Linux the simulator's in-process one).
 *
 * A guest that breaks the protocol (a frame over 64 KiB, a body that is not JSON, a
 * response to no request, a message type the host does not know) or goes away fails the
 * bridge: every pending call and every later one is rejected with that error. A request
 * the host cannot encode (over 64 KiB) fails alone.
 */
import type { Duplex } from 'node:stream';
import { HcsError } from '../hresult.js';
import type { LinuxHostedSystem } from '../builders/lcow.js';
import type { Properties, PropertyQuery } from '../types.js';
import { encodeMessage, messageKind, MessageDecoder, NOTIFICATION_TYPE, PROTOCOL_VERSION, requestType, responseType, BridgeProtocolError, type RpcName } from './protocol.js';
import {
  WAIT_INFINITE,
  type ContainerNotification,
  type ExecuteProcessResponse,
  type GuestModificationRequest,
  type LcowProcessParameters,
  type NegotiateProtocolResponse,
  type ResponseBase,
  type VsockStdioRelaySettings,
  type WaitForProcessResponse,
} from './messages.js';

/** The UVM itself as a "container" of the bridge (hcsshim gcs.UVMContainerID). */
export const UVM_CONTAINER_ID = '00000000-0000-0000-0000-000000000000';
const NO_ACTIVITY = '00000000-0000-0000-0000-000000000000';

export class GcsBridge {
  private nextId = 1n;
  private readonly pending = new Map<bigint, { type: number; resolve: (b: unknown) => void; reject: (e: Error) => void }>();
  private readonly decoder = new MessageDecoder();
  private failure: Error | undefined;
  private readonly failedWaiters: ((e: Error) => void)[] = [];
  /** Set after negotiate(). */
  version: number | undefined;
  capabilities: NegotiateProtocolResponse['Capabilities'];

  constructor(
    private readonly conn: Duplex,
    private readonly onNotify: (n: ContainerNotification) => void = () => undefined,
  ) {
    conn.on('data', (chunk: Buffer) => {
      if (this.failure) return;
      try {
        for (const m of this.decoder.push(chunk)) this.dispatch(m.type, m.id, m.body);
      } catch (e) {
        this.fail(e as Error);
      }
    });
    conn.on('error', (e) => this.fail(e));
    conn.on('end', () => this.fail(new BridgeProtocolError('the guest closed the bridge connection')));
    conn.on('close', () => this.fail(new BridgeProtocolError('the bridge connection closed')));
  }

  private dispatch(type: number, id: bigint, body: unknown): void {
    const kind = messageKind(type);
    if (kind === 'notify' && type === NOTIFICATION_TYPE) return this.onNotify(body as ContainerNotification);
    if (kind !== 'response') throw new BridgeProtocolError(`unexpected message type 0x${type.toString(16)} from the guest`);
    const p = this.pending.get(id);
    if (!p) throw new BridgeProtocolError(`response ${id} matches no request`);
    this.pending.delete(id);
    if (type !== responseType(p.type)) return p.reject(new BridgeProtocolError(`response type 0x${type.toString(16)} to request 0x${p.type.toString(16)}`));
    const r = body as ResponseBase;
    if (typeof r?.Result !== 'number') return p.reject(new BridgeProtocolError('a response without Result'));
    if (r.Result < 0) return p.reject(new HcsError(r.Result >>> 0, 'GCS', r.ErrorMessage ?? r.ErrorRecords?.[0]?.Message, r));
    p.resolve(body);
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    for (const w of this.failedWaiters.splice(0)) w(e);
    this.conn.destroy();
  }

  /** Resolves with the error that ended the bridge (the guest left, or broke the protocol). */
  failed(): Promise<Error> {
    if (this.failure) return Promise.resolve(this.failure);
    return new Promise((r) => this.failedWaiters.push(r));
  }

  get pendingCalls(): number {
    return this.pending.size;
  }

  /** Sends one request and resolves with the guest's response body. */
  request<T extends ResponseBase>(rpc: RpcName, containerId: string, body: Record<string, unknown>): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const type = requestType(rpc);
    let frame: Buffer;
    try {
      frame = encodeMessage({ type, id, body: { ContainerId: containerId, ActivityId: NO_ACTIVITY, ...body } });
    } catch (e) {
      return Promise.reject(e as Error);
    }
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { type, resolve: resolve as (b: unknown) => void, reject });
      this.conn.write(frame);
    });
  }

  /** NegotiateProtocol: Berth speaks version 4 only. */
  async negotiate(): Promise<NegotiateProtocolResponse> {
    const r = await this.request<NegotiateProtocolResponse>('NegotiateProtocol', UVM_CONTAINER_ID, { MinimumVersion: PROTOCOL_VERSION, MaximumVersion: PROTOCOL_VERSION });
    if (r.Version !== PROTOCOL_VERSION) throw new BridgeProtocolError(`the guest chose protocol version ${r.Version}; Berth speaks ${PROTOCOL_VERSION}`);
    this.version = r.Version;
    this.capabilities = r.Capabilities;
    return r;
  }

  private negotiated(): void {
    if (this.version !== PROTOCOL_VERSION) throw new BridgeProtocolError('negotiate the protocol first');
  }

  /** Create a Linux container: the OCI spec inside a linuxHostedSystem, JSON in a string (ContainerCreate.ContainerConfig). */
  async createContainer(containerId: string, hosted: LinuxHostedSystem): Promise<ResponseBase> {
    this.negotiated();
    return this.request('Create', containerId, { ContainerConfig: JSON.stringify(hosted) });
  }

  async startContainer(containerId: string): Promise<void> {
    this.negotiated();
    await this.request('Start', containerId, {});
  }

  /** ShutdownGraceful (the init gets SIGTERM) or ShutdownForced (everything SIGKILL). */
  async shutdownContainer(containerId: string, forced: boolean): Promise<void> {
    await this.request(forced ? 'ShutdownForced' : 'ShutdownGraceful', containerId, {});
  }

  async deleteContainerState(containerId: string): Promise<void> {
    await this.request('DeleteContainerState', containerId, {});
  }

  /** A guest-side modification of the UVM (mount a SCSI disk, combine layers...). */
  async modify(request: GuestModificationRequest, containerId = UVM_CONTAINER_ID): Promise<void> {
    this.negotiated();
    await this.request('ModifySettings', containerId, { Request: request });
  }

  /** ExecuteProcess: the guest connects the process' stdio to the vsock ports given; resolves with its pid. */
  async executeProcess(containerId: string, parameters: LcowProcessParameters, stdio: VsockStdioRelaySettings): Promise<number> {
    this.negotiated();
    const r = await this.request<ExecuteProcessResponse>('ExecuteProcess', containerId, {
      Settings: { ProcessParameters: JSON.stringify(parameters), VsockStdioRelaySettings: stdio },
    });
    return r.ProcessId;
  }

  /** Resolves with the exit code once the process exited (or the timeout's ERROR_TIMEOUT). */
  async waitForProcess(containerId: string, pid: number, timeoutMs = WAIT_INFINITE): Promise<number> {
    const r = await this.request<WaitForProcessResponse>('WaitForProcess', containerId, { ProcessId: pid, TimeoutInMs: timeoutMs });
    return r.ExitCode;
  }

  /** A signal number for a Linux guest (SignalProcessOptionsLCOW); none means SIGKILL (hcsshim Process.Kill). */
  async signalProcess(containerId: string, pid: number, signal?: number): Promise<void> {
    await this.request('SignalProcess', containerId, { ProcessId: pid, ...(signal !== undefined ? { Options: { Signal: signal } } : {}) });
  }

  async resizeConsole(containerId: string, pid: number, size: { height: number; width: number }): Promise<void> {
    await this.request('ResizeConsole', containerId, { ProcessId: pid, Height: size.height, Width: size.width });
  }

  /** GetProperties with a v2 PropertyQuery (both JSON in strings on the wire). */
  async getProperties(containerId: string, query: PropertyQuery): Promise<Properties> {
    const r = await this.request<ResponseBase & { Properties?: string }>('GetProperties', containerId, { Query: JSON.stringify(query) });
    return r.Properties ? (JSON.parse(r.Properties) as Properties) : {};
  }

  /** Closes the connection: what is pending fails. */
  close(): void {
    this.fail(new BridgeProtocolError('the bridge was closed by the host'));
  }
}
