/*
 * The hvsock transport of the GCS bridge, as far as Linux proves it: the ws2_32 prototypes
 * and SOCKADDR_HV parse and lay out as on Windows x64, the LCOW service id is the vsock
 * port template's, AF_HYPERV refuses off Windows, and hvsockDuplex (the byte plumbing the
 * koffi binding hands GcsBridge) carries a bridge exchange over an in-process socket pair
 * whose send takes a few bytes at a time. That a Windows host accepts the guest's
 * connection on the service id is proved only there.
 */
import koffi from 'koffi';
import { describe, expect, it } from 'vitest';
import { UnsupportedError } from '@berth/image-format';
import { AF_HYPERV, WS2_32, declareHvsockTypes, guidFromString, guidToString, hvsockDuplex, listenHvsock, vsockServiceId, functionName, type KoffiModule, type Winsock } from '../src/koffi/index.js';
import { GCS_SERVICE_LCOW, GcsBridge, MessageDecoder, encodeMessage, requestType, responseType } from '../src/index.js';

const k = koffi as unknown as KoffiModule;
declareHvsockTypes(k);

/** Two connected in-process sockets behind the Winsock interface; each send moves at most `chunk` bytes. */
function socketPair(chunk = 7): { ws: Winsock; a: bigint; b: bigint; sends: number[] } {
  interface End { inbox: Buffer[]; eof: boolean; wake?: () => void; closed: boolean }
  const ends = new Map<bigint, End>([[1n, { inbox: [], eof: false, closed: false }], [2n, { inbox: [], eof: false, closed: false }]]);
  const peer = (s: bigint): End => ends.get(s === 1n ? 2n : 1n)!;
  const sends: number[] = [];
  const ws: Winsock = {
    async recv(s, buf) {
      const me = ends.get(s)!;
      while (me.inbox.length === 0 && !me.eof) await new Promise<void>((r) => (me.wake = r));
      if (me.inbox.length === 0) return 0;
      const head = me.inbox[0]!;
      const n = Math.min(head.length, buf.length);
      head.copy(buf, 0, 0, n);
      if (n === head.length) me.inbox.shift();
      else me.inbox[0] = head.subarray(n);
      return n;
    },
    async send(s, buf) {
      const p = peer(s);
      if (p.closed) throw new Error('send: connection reset');
      const n = Math.min(chunk, buf.length);
      p.inbox.push(Buffer.from(buf.subarray(0, n)));
      sends.push(n);
      p.wake?.();
      return n;
    },
    async shutdownSend(s) {
      const p = peer(s);
      p.eof = true;
      p.wake?.();
    },
    async close(s) {
      ends.get(s)!.closed = true;
      await this.shutdownSend(s);
    },
  };
  return { ws, a: 1n, b: 2n, sends };
}

describe('hvsock (AF_HYPERV) for the GCS bridge', () => {
  it('the ws2_32 prototypes parse, and SOCKADDR_HV is {Family, Reserved, VmId, ServiceId}: 36 bytes', () => {
    for (const p of WS2_32) {
      const name = functionName(p);
      expect(k.proto(p.replace(`${name}(`, `berth_test_ws_${name}(`)), p).toBeTruthy();
    }
    expect(WS2_32.map(functionName)).toEqual(['WSAStartup', 'WSAGetLastError', 'socket', 'bind', 'listen', 'accept', 'connect', 'recv', 'send', 'shutdown', 'closesocket']);
    expect(k.sizeof('SOCKADDR_HV')).toBe(36);
    expect(k.offsetof('SOCKADDR_HV', 'VmId')).toBe(4);
    expect(k.offsetof('SOCKADDR_HV', 'ServiceId')).toBe(20);
    expect(AF_HYPERV).toBe(34);
  });

  it('GUIDs go to the struct and back; the LCOW GCS listens on vsock port 0x40000000 of the template', () => {
    expect(guidToString(guidFromString(GCS_SERVICE_LCOW))).toBe(GCS_SERVICE_LCOW);
    expect(guidFromString('acef5661-84a1-4e44-856b-6245e69f4620')).toEqual({ Data1: 0xacef5661, Data2: 0x84a1, Data3: 0x4e44, Data4: [0x85, 0x6b, 0x62, 0x45, 0xe6, 0x9f, 0x46, 0x20] });
    expect(vsockServiceId(0x40000000)).toBe(GCS_SERVICE_LCOW);
    expect(() => guidFromString('not-a-guid')).toThrow(TypeError);
  });

  it('refuses AF_HYPERV off Windows', async () => {
    await expect(listenHvsock({ vmId: guidToString(guidFromString(GCS_SERVICE_LCOW)), serviceId: GCS_SERVICE_LCOW })).rejects.toBeInstanceOf(UnsupportedError);
  });

  it('carries a bridge exchange over a socket pair, byte for byte, whatever send takes at a time', async () => {
    const { ws, a, b, sends } = socketPair(7);
    const host = hvsockDuplex(ws, a);
    const guest = hvsockDuplex(ws, b);
    const d = new MessageDecoder();
    const seen: number[] = [];
    guest.on('data', (c: Buffer) => {
      for (const m of d.push(c)) {
        seen.push(m.type);
        const body = m.type === requestType('NegotiateProtocol') ? { Result: 0, Version: 4 } : { Result: 0, Echo: m.body };
        guest.write(encodeMessage({ type: responseType(m.type), id: m.id, body }));
      }
    });
    const bridge = new GcsBridge(host);
    expect((await bridge.negotiate()).Version).toBe(4);
    const big = 'x'.repeat(20_000);
    const r = (await bridge.request('ModifySettings', 'c1', { Big: big })) as unknown as { Echo: { Big: string } };
    expect(r.Echo.Big).toBe(big);
    expect(seen).toEqual([requestType('NegotiateProtocol'), requestType('ModifySettings')]);
    expect(Math.max(...sends)).toBe(7);
    // the guest going away ends the host's stream: what is pending fails
    const pending = bridge.request('Start', 'c1', {});
    guest.removeAllListeners('data');
    guest.destroy();
    await expect(pending).rejects.toBeInstanceOf(Error);
    host.destroy();
  });
});
