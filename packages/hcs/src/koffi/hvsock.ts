/**
 * Hyper-V sockets (AF_HYPERV) for the GCS bridge: the host listens on a service id of a
 * utility VM (LCOW: `40000000-facb-11e6-bd58-64006a7986d3`, the guest GCS connects out to
 * vsock port 0x40000000; WCOW: `acef5661-…`), accepts the guest's connection, and the
 * bridge (GcsBridge) speaks over it as a Duplex. Winsock is bound through koffi
 * (ws2_32.dll, Windows only); the blocking calls (accept, recv, send) run with `.async`
 * on libuv's pool, so the event loop never waits. The byte plumbing (hvsockDuplex) is
 * written against the small Winsock interface below, so Linux tests run it over an
 * in-process socket pair.
 */
import { Duplex } from 'node:stream';
import { UnsupportedError } from '@berth/image-format';
import type { KoffiModule } from './prototypes.js';
import type { HvsockListener } from '../gcs/messages.js';

export { vsockServiceId, type HvsockListener } from '../gcs/messages.js';

export const AF_HYPERV = 34;
export const SOCK_STREAM = 1;
export const HV_PROTOCOL_RAW = 1;
/** HV_GUID_WILDCARD: any VM (VmId of a listener that takes connections from every partition). */
export const HV_GUID_WILDCARD = '00000000-0000-0000-0000-000000000000';
const INVALID_SOCKET = 0xffffffffffffffffn;
const SOCKET_ERROR = -1;
const SD_SEND = 1;

/** ws2_32.dll, in koffi's prototype syntax (SOCKET is UINT_PTR; WSADATA, 408 bytes on x64, is only written). */
export const WS2_32: string[] = [
  'int __stdcall WSAStartup(uint16_t wVersionRequested, _Out_ uint8_t *lpWSAData)',
  'int __stdcall WSAGetLastError()',
  'uint64_t __stdcall socket(int af, int type, int protocol)',
  'int __stdcall bind(uint64_t s, const SOCKADDR_HV *name, int namelen)',
  'int __stdcall listen(uint64_t s, int backlog)',
  'uint64_t __stdcall accept(uint64_t s, _Out_ SOCKADDR_HV *addr, _Inout_ int *addrlen)',
  'int __stdcall connect(uint64_t s, const SOCKADDR_HV *name, int namelen)',
  'int __stdcall recv(uint64_t s, _Out_ uint8_t *buf, int len, int flags)',
  'int __stdcall send(uint64_t s, const uint8_t *buf, int len, int flags)',
  'int __stdcall shutdown(uint64_t s, int how)',
  'int __stdcall closesocket(uint64_t s)',
];

/** SOCKADDR_HV {ADDRESS_FAMILY Family; USHORT Reserved; GUID VmId; GUID ServiceId} (hvsocket.h): 36 bytes. */
export function declareHvsockTypes(koffi: KoffiModule): void {
  const k = koffi as KoffiModule & { __berthHvsockTypes?: boolean };
  if (k.__berthHvsockTypes) return;
  try {
    koffi.type('GUID');
  } catch {
    koffi.struct('GUID', { Data1: 'uint32_t', Data2: 'uint16_t', Data3: 'uint16_t', Data4: koffi.array('uint8_t', 8) });
  }
  koffi.struct('SOCKADDR_HV', { Family: 'uint16_t', Reserved: 'uint16_t', VmId: 'GUID', ServiceId: 'GUID' });
  k.__berthHvsockTypes = true;
}

export interface Guid {
  Data1: number;
  Data2: number;
  Data3: number;
  Data4: number[];
}

/** A GUID's struct from its string form (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`). */
export function guidFromString(s: string): Guid {
  const m = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/i.exec(s);
  if (!m) throw new TypeError(`not a GUID: ${s}`);
  const tail = Buffer.from(m[4]! + m[5]!, 'hex');
  return { Data1: Number.parseInt(m[1]!, 16), Data2: Number.parseInt(m[2]!, 16), Data3: Number.parseInt(m[3]!, 16), Data4: [...tail] };
}

/** The socket calls hvsockDuplex needs: ws2_32's through koffi, or a test's. */
export interface Winsock {
  recv(s: bigint, buf: Buffer): Promise<number>;
  send(s: bigint, buf: Buffer): Promise<number>;
  shutdownSend(s: bigint): Promise<void>;
  close(s: bigint): Promise<void>;
}

/**
 * A connected socket as a Duplex: reads recv into fresh buffers (0 is the peer's end),
 * writes send until every byte is out, end() shuts the send side down, destroy closes.
 * One recv is outstanding at a time; memory stays at one 64 KiB buffer per read.
 */
export function hvsockDuplex(ws: Winsock, s: bigint, readSize = 64 * 1024): Duplex {
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await ws.close(s);
  };
  return new Duplex({
    read() {
      const buf = Buffer.allocUnsafe(readSize);
      ws.recv(s, buf).then(
        (n) => this.push(n > 0 ? buf.subarray(0, n) : null),
        (err: unknown) => this.destroy(err as Error),
      );
    },
    write(chunk: Buffer, _enc, cb) {
      void (async () => {
        for (let off = 0; off < chunk.length; ) off += await ws.send(s, chunk.subarray(off));
      })().then(() => cb(), cb);
    },
    final(cb) {
      ws.shutdownSend(s).then(() => cb(), cb);
    },
    destroy(err, cb) {
      close().then(() => cb(err), (e: unknown) => cb((err ?? e) as Error));
    },
  });
}

/**
 * Listens on (vmId, serviceId) through ws2_32.dll, on Windows only: as hcsshim does, the
 * host listens before the utility VM starts, and the guest GCS connects out.
 */
export async function listenHvsock(opts: { vmId: string; serviceId: string; platform?: NodeJS.Platform }): Promise<HvsockListener> {
  const platform = opts.platform ?? process.platform;
  if (platform !== 'win32') throw new UnsupportedError(`AF_HYPERV sockets exist only on Windows (this is ${platform}); test the bridge over an in-process duplex`);
  const mod = (await import('koffi')) as unknown as { default?: KoffiModule } & KoffiModule;
  const koffi = mod.default ?? mod;
  declareHvsockTypes(koffi);
  const lib = koffi.load('ws2_32.dll');
  const f = Object.fromEntries(WS2_32.map((p) => [/([A-Za-z_]+)\s*\(/.exec(p)![1]!, lib.func(p)])) as Record<string, ReturnType<typeof lib.func>>;
  const call = (name: string, ...args: unknown[]): Promise<unknown> =>
    new Promise((resolve, reject) => (f[name] as unknown as { async: (...a: unknown[]) => void }).async(...args, (err: unknown, r: unknown) => (err ? reject(err) : resolve(r))));
  const fail = (what: string): Error => new Error(`${what}: winsock error ${String(f['WSAGetLastError']!())}`);
  if ((f['WSAStartup']!(0x0202, Buffer.alloc(512)) as number) !== 0) throw fail('WSAStartup');
  const addr = { Family: AF_HYPERV, Reserved: 0, VmId: guidFromString(opts.vmId), ServiceId: guidFromString(opts.serviceId) };
  const size = koffi.sizeof('SOCKADDR_HV');
  const ls = BigInt(f['socket']!(AF_HYPERV, SOCK_STREAM, HV_PROTOCOL_RAW) as number | bigint);
  if (ls === INVALID_SOCKET) throw fail('socket(AF_HYPERV)');
  if ((f['bind']!(ls, addr, size) as number) === SOCKET_ERROR || (f['listen']!(ls, 1) as number) === SOCKET_ERROR) {
    const err = fail('bind/listen');
    f['closesocket']!(ls);
    throw err;
  }
  const ws: Winsock = {
    recv: async (s, buf) => {
      const n = (await call('recv', s, buf, buf.length, 0)) as number;
      if (n === SOCKET_ERROR) throw fail('recv');
      return n;
    },
    send: async (s, buf) => {
      const n = (await call('send', s, buf, buf.length, 0)) as number;
      if (n === SOCKET_ERROR) throw fail('send');
      return n;
    },
    shutdownSend: async (s) => {
      f['shutdown']!(s, SD_SEND);
    },
    close: async (s) => {
      f['closesocket']!(s);
    },
  };
  return {
    async accept() {
      const peer = {};
      const len = [size];
      const s = BigInt((await call('accept', ls, peer, len)) as number | bigint);
      if (s === INVALID_SOCKET) throw fail('accept');
      return hvsockDuplex(ws, s);
    },
    async close() {
      f['closesocket']!(ls);
    },
  };
}
