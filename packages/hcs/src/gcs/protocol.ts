/**
 * The HCS↔GCS bridge protocol the LCOW guest speaks (hcsshim internal/gcs/prot,
 * FACTS §3): each message is a 16-byte little-endian header (type u32, size u32 with the
 * header included, id u64) and a JSON body; at most 64 KiB. The type is
 * T(4 bits: request 1, response 2, notify 3) | category (ComputeSystem 0x001) | RPC (12 bits) | version (8 bits).
 */
export const HEADER_SIZE = 16;
export const MAX_MESSAGE_SIZE = 0x10000;
export const PROTOCOL_VERSION = 4;

export const MSG_REQUEST = 0x10000000;
export const MSG_RESPONSE = 0x20000000;
export const MSG_NOTIFY = 0x30000000;
const TYPE_MASK = 0xf0000000;
export const CATEGORY_COMPUTE_SYSTEM = 0x00100000;

/** RPC numbers (message id << 8 | version 1). */
export const RPC = {
  Create: 0x101,
  Start: 0x201,
  ShutdownGraceful: 0x301,
  ShutdownForced: 0x401,
  ExecuteProcess: 0x501,
  WaitForProcess: 0x601,
  SignalProcess: 0x701,
  ResizeConsole: 0x801,
  GetProperties: 0x901,
  ModifySettings: 0xa01,
  NegotiateProtocol: 0xb01,
  DumpStacks: 0xc01,
  DeleteContainerState: 0xd01,
} as const;
export type RpcName = keyof typeof RPC;

export const requestType = (rpc: RpcName): number => (MSG_REQUEST | CATEGORY_COMPUTE_SYSTEM | RPC[rpc]) >>> 0;
/** The response identifier of a request identifier (hcsshim GetResponseIdentifier). */
export const responseType = (request: number): number => (MSG_RESPONSE | (request & ~TYPE_MASK)) >>> 0;
/** ComputeSystemNotificationV1: a container's exit and other events. */
export const NOTIFICATION_TYPE = (MSG_NOTIFY | CATEGORY_COMPUTE_SYSTEM | 0x101) >>> 0;
/** The RPC a request or response type names, or undefined (the category and version must be ComputeSystem v1). */
export function rpcOf(type: number): RpcName | undefined {
  if (((type & ~TYPE_MASK & 0x0ff00000) >>> 0) !== CATEGORY_COMPUTE_SYSTEM) return undefined;
  const low = type & 0x000fffff;
  return (Object.keys(RPC) as RpcName[]).find((k) => RPC[k] === low);
}
export const messageKind = (type: number): 'request' | 'response' | 'notify' | 'unknown' =>
  ({ [MSG_REQUEST]: 'request', [MSG_RESPONSE]: 'response', [MSG_NOTIFY]: 'notify' } as const)[(type & TYPE_MASK) >>> 0] ?? 'unknown';

export interface BridgeMessage {
  type: number;
  id: bigint;
  body: unknown;
}

export class BridgeProtocolError extends Error {
  override name = 'BridgeProtocolError';
}

export function encodeMessage(m: BridgeMessage): Buffer {
  const body = Buffer.from(JSON.stringify(m.body), 'utf8');
  const size = HEADER_SIZE + body.length;
  if (size > MAX_MESSAGE_SIZE) throw new BridgeProtocolError(`message of ${size} bytes exceeds the bridge's ${MAX_MESSAGE_SIZE}`);
  const b = Buffer.allocUnsafe(size);
  b.writeUInt32LE(m.type >>> 0, 0);
  b.writeUInt32LE(size, 4);
  b.writeBigUInt64LE(m.id, 8);
  body.copy(b, HEADER_SIZE);
  return b;
}

/** Incremental decoder: feed it bytes as they arrive (any split), take whole messages. */
export class MessageDecoder {
  private buffered: Buffer[] = [];
  private length = 0;

  push(chunk: Buffer): BridgeMessage[] {
    this.buffered.push(chunk);
    this.length += chunk.length;
    const out: BridgeMessage[] = [];
    for (;;) {
      if (this.length < HEADER_SIZE) return out;
      const head = this.take(HEADER_SIZE, false);
      const size = head.readUInt32LE(4);
      if (size < HEADER_SIZE || size > MAX_MESSAGE_SIZE) throw new BridgeProtocolError(`bad message size ${size}`);
      if (this.length < size) return out;
      const msg = this.take(size, true);
      let body: unknown;
      try {
        body = JSON.parse(msg.subarray(HEADER_SIZE).toString('utf8'));
      } catch (e) {
        throw new BridgeProtocolError(`message body is not JSON: ${(e as Error).message}`);
      }
      out.push({ type: msg.readUInt32LE(0), id: msg.readBigUInt64LE(8), body });
    }
  }

  private take(n: number, consume: boolean): Buffer {
    const all = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered);
    this.buffered = [all];
    const out = all.subarray(0, n);
    if (consume) {
      this.buffered = all.length > n ? [all.subarray(n)] : [];
      this.length -= n;
    }
    return out;
  }
}
