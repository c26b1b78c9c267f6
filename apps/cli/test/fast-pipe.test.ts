// The ps short path's request over node's own pipe handle (src/fast/pipe.ts), against real
// Unix sockets: answers in pieces, daemons that go away, nobody listening. A failure must
// reject (so the whole CLI answers) and leave no handle that keeps node running.
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeBody } from '../src/fast/ps.js';
import { pipeBindings, pipeExchange, type PipeBindings } from '../src/fast/pipe.js';

const request = 'GET /v1.50/containers/json HTTP/1.1\r\nHost: localhost\r\n\r\n';
const head = (headers: string[]): string => `${['HTTP/1.1 200 OK', 'Api-Version: 1.50', ...headers].join('\r\n')}\r\n\r\n`;

describe('one request over a pipe handle', () => {
  let dir: string;
  let b: PipeBindings;
  const servers: Server[] = [];
  /** The servers' ends of the connections, until they close. */
  const open = new Set<Socket>();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-fast-pipe-'));
    const found = pipeBindings();
    // Node 20 (the tested major) has them: the short path must not lose them unnoticed
    expect(found).toBeDefined();
    b = found!;
    // a node whose pipe handle it has not been checked against: node:net
    expect(pipeBindings('v23.0.0')).toBeUndefined();
    expect(pipeBindings('v22.12.0')).toBeUndefined(); // untested majors use node:net
    expect(pipeBindings('v18.20.0')).toBeUndefined();
  });
  afterAll(async () => {
    for (const s of servers) await new Promise((r) => s.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  /** A server on its own socket; `serve` gets each connection and the request it read. */
  async function listen(name: string, serve: (socket: Socket, request: string) => void): Promise<string> {
    const path = join(dir, `${name}.sock`);
    const server = createServer((socket) => {
      let text = '';
      open.add(socket);
      socket.on('close', () => open.delete(socket));
      socket.on('error', () => undefined);
      socket.on('data', (d) => {
        text += d.toString('latin1');
        if (text.endsWith('\r\n\r\n')) serve(socket, text);
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(path, r));
    return path;
  }

  it('sends the request and reads an answer that comes in pieces', async () => {
    const body = JSON.stringify(Array.from({ length: 2000 }, (_, i) => ({ Id: `c${i}`, Names: [`/é${i}`] })));
    const seen: string[] = [];
    const path = await listen('pieces', (socket, req) => {
      seen.push(req);
      const bytes = Buffer.from(head([`Content-Length: ${Buffer.byteLength(body)}`]) + body);
      // a few bytes, a pause, then the rest in 1000-byte writes
      socket.write(bytes.subarray(0, 7));
      setTimeout(() => {
        for (let at = 7; at < bytes.length; at += 1000) socket.write(bytes.subarray(at, at + 1000));
      }, 20);
    });
    const got = await pipeExchange(b, path, request, completeBody);
    expect(got.toString('utf8')).toBe(body);
    expect(seen).toEqual([request]);
  });

  it('reads a chunked answer, and one that ends with the connection', async () => {
    const chunked = await listen('chunked', (socket) => socket.end(`${head(['Transfer-Encoding: chunked'])}3\r\n[1,\r\n2\r\n2]\r\n0\r\n\r\n`));
    expect((await pipeExchange(b, chunked, request, completeBody)).toString()).toBe('[1,2]');
    const closing = await listen('closing', (socket) => socket.end(`${head([])}[3]`));
    expect((await pipeExchange(b, closing, request, completeBody)).toString()).toBe('[3]');
  });

  it('rejects when nobody listens, the daemon hangs up, or cuts the body', async () => {
    await expect(pipeExchange(b, join(dir, 'nobody.sock'), request, completeBody)).rejects.toThrow(/connect/);
    await expect(pipeExchange(b, join(dir, 'x'.repeat(200), 'too-long.sock'), request, completeBody)).rejects.toThrow();
    const hangup = await listen('hangup', (socket) => socket.destroy());
    await expect(pipeExchange(b, hangup, request, completeBody)).rejects.toThrow('no response');
    const cut = await listen('cut', (socket) => socket.end(`${head(['Content-Length: 100'])}[1,2`));
    await expect(pipeExchange(b, cut, request, completeBody)).rejects.toThrow('short body');
    const refused = await listen('refused', (socket) => socket.end('HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n'));
    await expect(pipeExchange(b, refused, request, completeBody)).rejects.toThrow('500');
  });

  it('leaves no handle open, answered or not', async () => {
    const path = await listen('handles', (socket) => socket.end(`${head(['Content-Length: 2'])}[]`));
    // the servers' ends of earlier tests' connections close after ours, asynchronously
    const pipes = async (): Promise<number> => {
      for (let i = 0; i < 100 && open.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(open.size).toBe(0);
      return process.getActiveResourcesInfo().filter((r) => r === 'PipeWrap').length;
    };
    const before = await pipes();
    await pipeExchange(b, path, request, completeBody);
    await pipeExchange(b, join(dir, 'nobody.sock'), request, completeBody).catch(() => undefined);
    expect(await pipes()).toBe(before);
  });
});
