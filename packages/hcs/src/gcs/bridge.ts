/**
 * The host side of the bridge: requests with ids, responses matched to them, notifications
 * to a listener, over any duplex byte stream (on Windows the hvsock connection the GCS
 * makes to service 40000000-facb-11e6-bd58-64006a7986d3; in tests a pair of streams).
 * The transport itself is Windows-only and not part of this package.
 */
import type { Duplex } from 'node:stream';
import { HcsError } from '../hresult.js';
import type { LinuxHostedSystem } from '../builders/lcow.js';
import { encodeMessage, messageKind, MessageDecoder, NOTIFICATION_TYPE, PROTOCOL_VERSION, requestType, responseType, BridgeProtocolError, type RpcName } from './protocol.js';

/** Every GCS response carries these (hcsshim prot.MessageResponseBase). */
export interface ResponseBase {
  Result: number;
  ActivityId?: string;
  ErrorMessage?: string;
  ErrorRecords?: { Result: number; Message: string }[];
}

export interface ContainerNotification {
  ContainerId: string;
  ActivityId?: string;
  Type: string;
  Operation: string;
  Result: number;
  ResultInfo?: string;
}

/** The UVM itself as a "container" of the bridge (hcsshim gcs.UVMContainerID). */
export const UVM_CONTAINER_ID = '00000000-0000-0000-0000-000000000000';
const NO_ACTIVITY = '00000000-0000-0000-0000-000000000000';

export class GcsBridge {
  private nextId = 1n;
  private readonly pending = new Map<bigint, { type: number; resolve: (b: unknown) => void; reject: (e: Error) => void }>();
  private readonly decoder = new MessageDecoder();
  private failure: Error | undefined;
  /** Set after negotiate(). */
  version: number | undefined;

  constructor(
    private readonly conn: Duplex,
    private readonly onNotify: (n: ContainerNotification) => void = () => undefined,
  ) {
    conn.on('data', (chunk: Buffer) => {
      try {
        for (const m of this.decoder.push(chunk)) this.dispatch(m.type, m.id, m.body);
      } catch (e) {
        this.fail(e as Error);
      }
    });
    conn.on('error', (e) => this.fail(e));
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
    if (r.Result < 0) return p.reject(new HcsError(r.Result, 'GCS', r.ErrorMessage ?? r.ErrorRecords?.[0]?.Message, r));
    p.resolve(body);
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  /** Sends one request and resolves with the guest's response body. */
  request<T extends ResponseBase>(rpc: RpcName, containerId: string, body: Record<string, unknown>): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const type = requestType(rpc);
    const frame = encodeMessage({ type, id, body: { ContainerId: containerId, ActivityId: NO_ACTIVITY, ...body } });
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { type, resolve: resolve as (b: unknown) => void, reject });
      this.conn.write(frame);
    });
  }

  /** NegotiateProtocol: Berth speaks version 4 only. */
  async negotiate(): Promise<{ Version: number; Capabilities?: Record<string, unknown> }> {
    const r = await this.request<ResponseBase & { Version: number; Capabilities?: Record<string, unknown> }>('NegotiateProtocol', UVM_CONTAINER_ID, { MinimumVersion: PROTOCOL_VERSION, MaximumVersion: PROTOCOL_VERSION });
    if (r.Version !== PROTOCOL_VERSION) throw new BridgeProtocolError(`the guest chose protocol version ${r.Version}; Berth speaks ${PROTOCOL_VERSION}`);
    this.version = r.Version;
    return r;
  }

  /** Create a Linux container: the OCI spec inside a linuxHostedSystem, JSON in a string (ContainerCreate.ContainerConfig). */
  createContainer(containerId: string, hosted: LinuxHostedSystem): Promise<ResponseBase> {
    if (this.version !== PROTOCOL_VERSION) return Promise.reject(new BridgeProtocolError('negotiate the protocol first'));
    return this.request('Create', containerId, { ContainerConfig: JSON.stringify(hosted) });
  }
}
