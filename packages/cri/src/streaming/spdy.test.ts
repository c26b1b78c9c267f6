import { createHash } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { constants, createDeflate } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { SPDY_DICTIONARY } from './spdy-dictionary.js';
import { FrameReader, FrameType, dataFrame, goAwayFrame, pingFrame, readSynStream, rstStreamFrame, synStreamFrame } from './spdy-frames.js';
import { HeaderCompressor, HeaderDecompressor, encodeHeaderBlock, parseHeaderBlock } from './spdy-headers.js';
import { MAX_STREAMS, SpdyConnection, type SpdyStream } from './spdy-connection.js';

const allBytes = (): Buffer => Buffer.from(Array.from({ length: 256 }, (_, i) => i));

function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (b: Buffer) => parts.push(b));
    s.on('end', () => resolve(Buffer.concat(parts)));
    s.on('error', reject);
  });
}

describe('SPDY header blocks', () => {
  it('primes zlib with the dictionary of SPDY/3 (byte for byte)', () => {
    expect(SPDY_DICTIONARY.length).toBe(1423);
    expect(createHash('sha256').update(SPDY_DICTIONARY).digest('hex')).toBe('51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02');
  });

  it('encodes names lower-case with 4-byte lengths and keeps NUL-joined values', () => {
    const block = encodeHeaderBlock({ streamType: 'error', port: '80\u00008080' });
    expect(block.subarray(0, 4).readUInt32BE(0)).toBe(2);
    expect(block.subarray(4, 8).readUInt32BE(0)).toBe(10);
    expect(block.subarray(8, 18).toString()).toBe('streamtype');
    expect(parseHeaderBlock(block)).toEqual({ streamtype: 'error', port: '80\u00008080' });
    expect(() => parseHeaderBlock(block.subarray(0, block.length - 1))).toThrow(/truncated/);
  });

  it('round-trips blocks through one context per direction, past the 32 KiB window', async () => {
    const c = new HeaderCompressor();
    const d = new HeaderDecompressor();
    try {
      for (let i = 0; i < 200; i++) {
        const h = { streamtype: i % 2 ? 'stdout' : 'stderr', requestid: String(i), filler: `${'x'.repeat(200)}${i}` };
        expect(await d.decompress(c.compress(h))).toEqual(h);
      }
    } finally {
      d.close();
    }
  });

  it('reads blocks from a peer that keeps one real zlib stream with sync flushes (as Go does)', async () => {
    const z = createDeflate({ dictionary: SPDY_DICTIONARY, level: 9 });
    const compress = (h: Record<string, string>): Promise<Buffer> =>
      new Promise((resolve) => {
        const parts: Buffer[] = [];
        const onData = (b: Buffer): number => parts.push(b);
        z.on('data', onData);
        z.write(encodeHeaderBlock(h));
        z.flush(constants.Z_SYNC_FLUSH, () => {
          z.off('data', onData);
          resolve(Buffer.concat(parts));
        });
      });
    const d = new HeaderDecompressor();
    try {
      for (const h of [{ streamtype: 'error' }, { streamtype: 'stdin' }, { streamtype: 'stdout' }, { streamtype: 'data', port: '80', requestid: '0' }] as Record<string, string>[]) {
        expect(await d.decompress(await compress(h))).toEqual(h);
      }
    } finally {
      d.close();
      z.destroy();
    }
  });

  it('refuses a block that inflates past the limit', async () => {
    const c = new HeaderCompressor();
    const d = new HeaderDecompressor();
    try {
      await expect(d.decompress(c.compress({ big: 'a'.repeat(300 * 1024) }))).rejects.toThrow();
    } finally {
      d.close();
    }
  });
});

describe('SPDY frames', () => {
  it('cuts frames out of any chunking', () => {
    const bytes = Buffer.concat([synStreamFrame(1, Buffer.from('hdr'), 0, 3), dataFrame(1, allBytes(), true), pingFrame(7), rstStreamFrame(3, 5), goAwayFrame(1)]);
    const r = new FrameReader();
    const frames = [];
    for (let i = 0; i < bytes.length; i++) frames.push(...r.push(bytes.subarray(i, i + 1)));
    expect(frames.map((f) => (f.kind === 'data' ? 'data' : f.type))).toEqual([FrameType.SynStream, 'data', FrameType.Ping, FrameType.RstStream, FrameType.GoAway]);
    const syn = frames[0]!;
    expect(syn.kind === 'control' && syn.version).toBe(3);
    if (syn.kind === 'control') expect(readSynStream(syn.payload)).toMatchObject({ streamId: 1, priority: 3, block: Buffer.from('hdr') });
    const data = frames[1]!;
    expect(data.kind === 'data' && data.data.equals(allBytes()) && data.flags).toBe(1);
  });

  it('refuses a frame longer than the limit before buffering it', () => {
    const r = new FrameReader(1024);
    expect(() => r.push(dataFrame(1, Buffer.alloc(2048), false).subarray(0, 8))).toThrow(/over the limit/);
  });
});

describe('SPDY connection', () => {
  let server: Server | undefined;
  const conns: SpdyConnection[] = [];
  afterEach(async () => {
    for (const c of conns.splice(0)) c.destroy();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
  });

  async function pair(accept?: (h: Record<string, string>) => string | undefined): Promise<{ client: SpdyConnection; server: SpdyConnection }> {
    let serverConn!: SpdyConnection;
    const ready = new Promise<void>((resolve) => {
      server = createServer((s: Socket) => {
        serverConn = new SpdyConnection(s, { server: true, ...(accept ? { accept } : {}) });
        conns.push(serverConn);
        resolve();
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    const port = (server!.address() as { port: number }).port;
    const sock = connect(port, '127.0.0.1');
    const client = new SpdyConnection(sock, { server: false });
    conns.push(client);
    await ready;
    return { client, server: serverConn };
  }

  it('carries bytes both ways with FINs, replies, and echoes the peer’s PING', async () => {
    const { client, server } = await pair();
    const got = new Promise<SpdyStream>((r) => server.once('stream', r));
    const s = client.openStream({ streamType: 'stdin' });
    const ss = await got;
    expect(ss.headers).toEqual({ streamtype: 'stdin' });
    expect(await s.replied).toEqual({});
    const big = Buffer.concat(Array.from({ length: 4096 }, allBytes)); // 1 MiB, every byte value
    const serverGot = readAll(ss);
    s.end(big);
    expect((await serverGot).equals(big)).toBe(true);
    const clientGot = readAll(s);
    ss.end(big.subarray(0, 1000));
    expect((await clientGot).equals(big.subarray(0, 1000))).toBe(true);
    // a PING from the client (odd id) comes back unchanged
    const echoed = new Promise<Buffer>((resolve) => {
      const r = new FrameReader();
      client.socket.on('data', (b: Buffer) => {
        for (const f of r.push(b)) if (f.kind === 'control' && f.type === FrameType.Ping) resolve(f.payload);
      });
    });
    client.socket.write(pingFrame(9));
    expect((await echoed).readUInt32BE(0)).toBe(9);
  });

  it('answers a refused stream with a finished reply and resets reach the other side', async () => {
    const { client, server } = await pair((h) => (h.port ? undefined : 'port header is required'));
    const refused = client.openStream({ streamType: 'data' });
    expect(await readAll(refused)).toEqual(Buffer.alloc(0));
    const got = new Promise<SpdyStream>((r) => server.once('stream', r));
    const s = client.openStream({ streamType: 'data', port: '80' });
    const ss = await got;
    const closed = new Promise<void>((r) => ss.once('close', () => r()));
    s.destroy();
    await closed;
    expect(ss.reset).toBe(true);
  });

  it('refuses streams past the limit of open ones', async () => {
    const { client, server } = await pair();
    let taken = 0;
    server.on('stream', () => taken++);
    const streams = Array.from({ length: MAX_STREAMS + 1 }, () => client.openStream({ streamType: 'data' }));
    const last = streams[MAX_STREAMS]!;
    await expect(last.replied).rejects.toThrow(/reset/);
    expect(taken).toBe(MAX_STREAMS);
  });

  it('ends every stream when the peer goes away', async () => {
    const { client, server } = await pair();
    const got = new Promise<SpdyStream>((r) => server.once('stream', r));
    client.openStream({ streamType: 'stdout' });
    const ss = await got;
    const ended = readAll(ss);
    const closed = new Promise<void>((r) => server.once('close', () => r()));
    client.destroy();
    await closed;
    expect(await ended).toEqual(Buffer.alloc(0));
    expect(ss.write(Buffer.from('dropped'))).toBeDefined(); // writes after the peer left are dropped, not thrown
  });
});
