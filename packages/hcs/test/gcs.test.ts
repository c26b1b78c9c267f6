/*
 * The GCS bridge codec and host client (FACTS §3): header layout, message identifiers,
 * framing across any split, size limits, and a request/response/notify exchange with a
 * guest played by the test over a stream pair. The hvsock transport is Windows-only.
 */
import { Duplex, PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  GcsBridge,
  MAX_MESSAGE_SIZE,
  MessageDecoder,
  NOTIFICATION_TYPE,
  encodeMessage,
  lcowContainerRequest,
  requestType,
  responseType,
  type BridgeMessage,
  type LinuxHostedSystem,
} from '../src/index.js';
import { ociConfigErrors } from './support.js';

describe('GCS bridge codec', () => {
  it('uses hcsshim\'s message identifiers', () => {
    expect(requestType('Create')).toBe(0x10100101);
    expect(requestType('ExecuteProcess')).toBe(0x10100501);
    expect(requestType('NegotiateProtocol')).toBe(0x10100b01);
    expect(responseType(requestType('NegotiateProtocol'))).toBe(0x20100b01);
    expect(NOTIFICATION_TYPE).toBe(0x30100101);
  });

  it('writes a 16-byte little-endian header: type, size with the header, id; then the JSON body', () => {
    const b = encodeMessage({ type: 0x10100101, id: 0x0102030405060708n, body: { A: 1 } });
    expect(b.subarray(0, 16).toString('hex')).toBe('01011010' + '17000000' + '0807060504030201');
    expect(b.subarray(16).toString()).toBe('{"A":1}');
    expect(b.length).toBe(23);
  });

  it('decodes whatever way the bytes are split', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ type: fc.constantFrom(0x20100101, 0x30100101), id: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), body: fc.jsonValue() }), { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 8 }), (msgs, cuts) => {
        const wire = Buffer.concat(msgs.map((m) => encodeMessage(m as BridgeMessage)));
        const points = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
        const d = new MessageDecoder();
        const got: BridgeMessage[] = [];
        let at = 0;
        for (const p of [...points, wire.length]) {
          got.push(...d.push(wire.subarray(at, p)));
          at = p;
        }
        expect(got.map((m) => ({ ...m, body: JSON.stringify(m.body) }))).toEqual(msgs.map((m) => ({ ...m, body: JSON.stringify(JSON.parse(JSON.stringify(m.body))) })));
      }),
    );
  });

  it('refuses a message over 64 KiB and a header that lies about its size', () => {
    expect(() => encodeMessage({ type: 0x10100101, id: 1n, body: 'x'.repeat(MAX_MESSAGE_SIZE) })).toThrow(/exceeds/);
    const bad = Buffer.alloc(16);
    bad.writeUInt32LE(0x20100101, 0);
    bad.writeUInt32LE(8, 4);
    expect(() => new MessageDecoder().push(bad)).toThrow(/bad message size/);
    bad.writeUInt32LE(MAX_MESSAGE_SIZE + 1, 4);
    expect(() => new MessageDecoder().push(bad)).toThrow(/bad message size/);
  });
});

/** A guest played by the test: answers each request with `answer`, can notify. */
function guestPair(answer: (m: BridgeMessage) => unknown) {
  const toGuest = new PassThrough();
  const toHost = new PassThrough();
  const host = Duplex.from({ readable: toHost, writable: toGuest });
  const seen: BridgeMessage[] = [];
  const d = new MessageDecoder();
  toGuest.on('data', (c: Buffer) => {
    for (const m of d.push(c)) {
      seen.push(m);
      toHost.write(encodeMessage({ type: responseType(m.type), id: m.id, body: answer(m) }));
    }
  });
  const notify = (body: unknown) => toHost.write(encodeMessage({ type: NOTIFICATION_TYPE, id: 0n, body }));
  return { host, seen, notify };
}

describe('GcsBridge', () => {
  it('negotiates version 4, sends the LCOW OCI spec as ContainerCreate.ContainerConfig, passes notifications on', async () => {
    const notes: unknown[] = [];
    const g = guestPair((m) => (m.type === requestType('NegotiateProtocol') ? { Result: 0, Version: 4, Capabilities: { SendHostCreateMessage: false } } : { Result: 0 }));
    const bridge = new GcsBridge(g.host, (n) => notes.push(n));
    await expect(bridge.createContainer('c1', {} as LinuxHostedSystem)).rejects.toThrow(/negotiate/);
    expect((await bridge.negotiate()).Version).toBe(4);
    expect(g.seen[0]!.body).toMatchObject({ MinimumVersion: 4, MaximumVersion: 4, ContainerId: '00000000-0000-0000-0000-000000000000' });
    const hosted = lcowContainerRequest({ spec: { id: 'c1', rootfs: { layers: ['C:\\l\\a'] }, process: { args: ['sh', '-c', 'echo hi'] } }, scratchDirPath: '/run/gcs/c/c1/scratch' });
    await bridge.createContainer('c1', hosted);
    const create = g.seen[1]!;
    expect(create.type).toBe(0x10100101);
    const body = create.body as { ContainerId: string; ContainerConfig: string };
    expect(body.ContainerId).toBe('c1');
    const config = JSON.parse(body.ContainerConfig) as LinuxHostedSystem;
    expect(config).toEqual(hosted);
    expect(ociConfigErrors(config.OciSpecification)).toEqual([]);
    g.notify({ ContainerId: 'c1', Type: 'UnexpectedExit', Operation: 'None', Result: 0 });
    await new Promise((r) => setImmediate(r));
    expect(notes).toEqual([{ ContainerId: 'c1', Type: 'UnexpectedExit', Operation: 'None', Result: 0 }]);
  });

  it('a failed Result is an HcsError; a guest that wants another version is refused', async () => {
    const g = guestPair((m) => (m.type === requestType('NegotiateProtocol') ? { Result: 0, Version: 4 } : { Result: 0x80370112 | 0, ErrorMessage: 'no such layer' }));
    const bridge = new GcsBridge(g.host);
    await bridge.negotiate();
    await expect(bridge.request('Start', 'c1', {})).rejects.toMatchObject({ code: 'HCS_E_INVALID_LAYER', message: expect.stringContaining('no such layer') });
    const old = guestPair(() => ({ Result: 0, Version: 3 }));
    await expect(new GcsBridge(old.host).negotiate()).rejects.toThrow(/version 3/);
  });

  it('a closed connection fails what is pending and what comes after', async () => {
    const toGuest = new PassThrough();
    const toHost = new PassThrough();
    const host = Duplex.from({ readable: toHost, writable: toGuest });
    const bridge = new GcsBridge(host);
    const pending = bridge.negotiate();
    host.destroy();
    await expect(pending).rejects.toBeInstanceOf(Error);
    await expect(bridge.request('Start', 'c1', {})).rejects.toThrow();
  });
});
