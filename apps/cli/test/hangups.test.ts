import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berthRunner, buildCli, removeCli, type CliResult } from './support/cli.js';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

const dirStat = Buffer.from(JSON.stringify({ name: 'dir', size: 4096, mode: 2 ** 31 + 0o755, mtime: '2020-01-01T00:00:00Z', linkTarget: '' })).toString('base64');
const inspect = {
  Id: 'c'.repeat(64),
  Name: '/c',
  State: { Running: true, Status: 'running' },
  Config: { Tty: false, OpenStdin: false, Image: 'busybox' },
  HostConfig: {},
};

/** The start of a tar holding `dir/big.bin` of 1 MB: only its header and 4 kB of body. */
function partialTar(): Buffer {
  const h = Buffer.alloc(512);
  h.write('dir/big.bin', 0);
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write((1_000_000).toString(8).padStart(11, '0') + '\0', 124);
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\x0000', 257);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return Buffer.concat([h, Buffer.alloc(4096, 0x61)]);
}

// The CLI's own error handling, against a fake daemon on loopback tcp that hangs up at
// chosen points (a reset or a plain close, before the headers, mid-response, while the
// CLI still uploads): every case ends with one line on stderr and a non-zero exit, never
// an unhandled 'error' event, a stack trace or a hang.
describe('berth when the daemon hangs up', () => {
  let bin: string;
  let dir: string;
  let server: http.Server;
  let host: string;
  let handle: Handler | undefined;
  let berth: (args: string[], opts?: { input?: Buffer }) => Promise<CliResult>;

  /** Ends the connection under `res`: a TCP reset, or a close (FIN). */
  const hangUp = (res: http.ServerResponse, how: 'reset' | 'close'): void => {
    if (how === 'reset') res.socket?.resetAndDestroy();
    else res.socket?.end();
  };
  /** Answers 200 with `head` and `body`, then hangs up `how` instead of finishing. */
  const cutShort =
    (how: 'reset' | 'close', headers: Record<string, string>, body: Buffer): Handler =>
    (req, res) => {
      req.resume();
      res.writeHead(200, headers);
      res.write(body, () => setTimeout(() => hangUp(res, how), 50));
    };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-cli-hangups-'));
    await mkdir(join(dir, 'src', 'dir'), { recursive: true });
    // big enough that the CLI is still sending when the daemon answers or hangs up
    await writeFile(join(dir, 'src', 'dir', 'big'), Buffer.alloc(8 << 20, 0x62));
    await writeFile(join(dir, 'file'), 'a file\n');
    await mkdir(join(dir, 'out'));
    server = http.createServer((req, res) => {
      if (req.url === '/_ping') {
        res.writeHead(200, { 'Api-Version': '1.50', 'Content-Type': 'text/plain' });
        res.end('OK');
        return;
      }
      if (handle) return handle(req, res);
      res.writeHead(500).end('{"message":"no handler"}');
    });
    server.on('clientError', () => {});
    server.on('connection', (s) => s.on('error', () => {}));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `tcp://127.0.0.1:${(server.address() as AddressInfo).port}`;
    bin = await buildCli();
    const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, BERTH_HOST: host, BERTH_CONFIG: join(dir, 'cfg') };
    ({ berth } = berthRunner(bin, env));
  }, 180_000);
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await removeCli(bin);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Routes the fake answers the same in every case (stat and inspect), the rest to `h`. */
  const serve = (h: Handler): void => {
    handle = (req, res) => {
      if (req.method === 'HEAD' && req.url?.includes('/archive')) {
        res.writeHead(req.url.includes('nope') ? 404 : 200, req.url.includes('nope') ? {} : { 'X-Docker-Container-Path-Stat': dirStat }).end();
        return;
      }
      if (req.method === 'GET' && req.url?.startsWith('/v1.50/containers/c/json')) {
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(inspect));
        return;
      }
      h(req, res);
    };
  };
  const oneLine = (r: CliResult): void => {
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^[^\n]+\n$/);
    expect(r.stderr).not.toMatch(/node:|Unhandled|    at /);
  };

  it('cp out of a container, refused before the tar is read: the message, no crash at exit (the CI failure)', async () => {
    // the tar never ends: the CLI closes the download when it gives up
    serve((req, res) => {
      req.resume();
      res.writeHead(200, { 'Content-Type': 'application/x-tar', 'X-Docker-Container-Path-Stat': dirStat });
      res.write(partialTar());
    });
    await writeFile(join(dir, 'out', 'existing'), 'x');
    const r = await berth(['cp', 'c:/dir', join(dir, 'out', 'existing')]);
    expect(r).toEqual({ code: 1, stdout: '', stderr: 'cannot copy directory\n' });
  });

  it('cp out of a container, cut mid-tar: unexpected EOF (as docker), to a directory and to stdout', async () => {
    for (const how of ['reset', 'close'] as const) {
      serve(cutShort(how, { 'Content-Type': 'application/x-tar', 'X-Docker-Container-Path-Stat': dirStat }, partialTar()));
      const r = await berth(['cp', 'c:/dir', join(dir, 'out')]);
      expect(r).toEqual({ code: 1, stdout: '', stderr: 'unexpected EOF\n' });
      const s = await berth(['cp', 'c:/dir', '-']);
      expect({ ...s, stdout: s.stdout.length }).toEqual({ code: 1, stdout: partialTar().length, stderr: 'unexpected EOF\n' });
    }
  });

  it("cp into a container: the daemon's error while the CLI still uploads wins over the broken pipe, and the tar stops", async () => {
    // berthd's way: answer at once, drain the rest
    serve((req, res) => {
      res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"message":"Could not find the file /nope in container c"}\n');
    });
    const r = await berth(['cp', join(dir, 'src', 'dir'), 'c:/nope/x']);
    expect(r).toEqual({ code: 1, stdout: '', stderr: 'Error response from daemon: Could not find the file /nope in container c\n' });
    // dockerd's way: answer, close its side (reading on for a moment), then reset. (A daemon
    // that closes at once while the client still sends loses its answer in the client's
    // kernel, whatever the client does: berthd drains instead.)
    serve((req, res) => {
      const body = '{"message":"Could not find the file /nope in container c"}\n';
      const s = req.socket;
      res.detachSocket(s);
      req.resume();
      s.end(`HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
      setTimeout(() => s.resetAndDestroy(), 200);
    });
    const again = await berth(['cp', join(dir, 'src', 'dir'), 'c:/nope/x']);
    expect(again).toEqual(r);
  });

  it('cp into a container, reset mid-upload with no answer: a connection error, no hang', async () => {
    serve((req) => req.once('data', () => req.socket.resetAndDestroy()));
    const r = await berth(['cp', join(dir, 'src', 'dir'), 'c:/dir']);
    oneLine(r);
    expect(r.stderr).toMatch(/^error during connect: Put "http:\/\/127\.0\.0\.1:\d+\/v1\.50\/containers\/c\/archive\?path=%2Fdir[^"]*": (connection reset by peer|broken pipe)\n$/);
  });

  it('any request, hung up before the headers: error during connect (as docker)', async () => {
    serve((req, res) => hangUp(res, 'reset'));
    const r = await berth(['ps']);
    oneLine(r);
    expect(r.stderr).toMatch(/^error during connect: Get "http:\/\/127\.0\.0\.1:\d+\/v1\.50\/containers\/json\?[^"]*": connection reset by peer\n$/);
    serve((req, res) => hangUp(res, 'close'));
    const c = await berth(['cp', 'c:/dir', join(dir, 'out')]);
    expect(c.stderr).toMatch(/^error during connect: Get "http:\/\/127\.0\.0\.1:\d+\/v1\.50\/containers\/c\/archive\?path=%2Fdir": EOF\n$/);
    expect(c.code).toBe(1);
  });

  it('logs, export, pull and load, cut mid-stream: unexpected EOF', async () => {
    serve(cutShort('reset', { 'Content-Type': 'application/vnd.docker.multiplexed-stream' }, Buffer.from([1, 0, 0, 0, 0, 0, 0, 3, 0x61, 0x62, 0x0a])));
    expect(await berth(['logs', '-f', 'c'])).toEqual({ code: 1, stdout: 'ab\n', stderr: 'unexpected EOF\n' });
    serve(cutShort('close', { 'Content-Type': 'application/x-tar' }, partialTar()));
    expect(await berth(['export', '-o', join(dir, 'out', 'export.tar'), 'c'])).toEqual({ code: 1, stdout: '', stderr: 'unexpected EOF\n' });
    serve(cutShort('reset', { 'Content-Type': 'application/json' }, Buffer.from('{"status":"Pulling from library/busybox","id":"latest"}\n')));
    const pull = await berth(['pull', 'busybox']);
    expect(pull.code).toBe(1);
    expect(pull.stderr).toBe('unexpected EOF\n');
    // load: the daemon fails while the CLI still sends the archive
    serve((req, res) => {
      res.writeHead(500, { 'Content-Type': 'application/json' }).end('{"message":"no space left on device"}\n');
    });
    const tarFile = join(dir, 'big.tar');
    await writeFile(tarFile, Buffer.alloc(8 << 20));
    expect(await berth(['load', '-i', tarFile])).toEqual({ code: 1, stdout: '', stderr: 'Error response from daemon: no space left on device\n' });
  });

  it('exec, the daemon gone mid-output: an error, not a hang', async () => {
    serve((req, res) => {
      if (req.url?.endsWith('/exec')) {
        res.writeHead(201, { 'Content-Type': 'application/json' }).end('{"Id":"e1"}');
        return;
      }
      if (req.url?.includes('/exec/e1/start')) {
        const s = res.socket!;
        res.detachSocket(s);
        s.write('HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n');
        s.write(Buffer.from([1, 0, 0, 0, 0, 0, 0, 3, 0x61, 0x62, 0x0a]), () => setTimeout(() => s.resetAndDestroy(), 50));
        return;
      }
      // and then it is gone for good
      hangUp(res, 'reset');
    });
    const r = await berth(['exec', 'c', 'true']);
    expect(r.stdout).toBe('ab\n');
    oneLine(r);
    expect(r.stderr).toMatch(/^error during connect: Get "http:\/\/127\.0\.0\.1:\d+\/v1\.50\/exec\/e1\/json": connection reset by peer\n$/);
  });
});
