import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { stat } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import http from 'node:http';
import Docker from 'dockerode';
import { EngineClient, FrameDecoder, demultiplexStream, encodeFrame } from '@berth/engine-api';
import { NotFoundError, ConflictError, InvalidArgumentError } from '@berth/image-format';
import { startTestDaemon, type TestDaemon } from './support/daemon.js';
import { scriptedEngine } from './support/scripted-engine.js';
import { rawExchange, request } from './support/http.js';

const run = promisify(execFile);

// The HTTP layer of berthd on its own (scripted engine): versions, headers, errors,
// bodies, and the streaming/hijack protocols the docker CLI depends on.
describe('berthd protocol', () => {
  let t: TestDaemon;
  let scripted: ReturnType<typeof scriptedEngine>;
  let client: EngineClient;

  beforeAll(async () => {
    scripted = scriptedEngine();
    t = await startTestDaemon({ engine: scripted.engine, hosts: undefined });
    client = new EngineClient({ socketPath: t.socketPath });
  });
  afterAll(async () => {
    client?.close();
    await t?.stop();
  });

  it('serves GET and HEAD /_ping with Docker headers', async () => {
    const get = await request(t.socketPath, 'GET', '/_ping');
    expect(get.status).toBe(200);
    expect(get.body).toBe('OK');
    expect(get.headers['api-version']).toBe('1.50');
    expect(get.headers['ostype']).toBe('linux');
    expect(get.headers['server']).toMatch(/^Berth\/\S+ \(linux\)$/);
    expect(get.headers['docker-experimental']).toBe('false');
    expect(get.headers['cache-control']).toBe('no-cache, no-store, must-revalidate');
    expect(get.headers['pragma']).toBe('no-cache');
    expect(get.headers['builder-version']).toBeDefined();
    const head = await request(t.socketPath, 'HEAD', '/_ping');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect(head.headers['api-version']).toBe('1.50');
  });

  it('accepts unversioned and /v1.xx/ paths and rejects versions out of range as Docker does', async () => {
    const v = JSON.parse((await request(t.socketPath, 'GET', '/v1.43/version')).body);
    expect(v.ApiVersion).toBe('1.50');
    expect(v.MinAPIVersion).toBe('1.24');
    expect((await request(t.socketPath, 'GET', '/v1.24/_ping')).status).toBe(200);
    const old = await request(t.socketPath, 'GET', '/v1.12/version');
    expect(old.status).toBe(400);
    expect(JSON.parse(old.body).message).toBe('client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version');
    expect(old.headers['api-version']).toBe('1.50');
    const tooNew = await request(t.socketPath, 'GET', '/v1.99/version');
    expect(tooNew.status).toBe(400);
    expect(JSON.parse(tooNew.body).message).toBe('client version 1.99 is too new. Maximum supported API version is 1.50');
  });

  it('answers unknown routes with 404 page not found', async () => {
    const r = await request(t.socketPath, 'GET', '/v1.50/nope/json');
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body)).toEqual({ message: 'page not found' });
  });

  it('answers swarm routes as a standalone dockerd does (503, its messages)', async () => {
    const leave = await request(t.socketPath, 'POST', '/v1.41/swarm/leave?force=1');
    expect(leave.status).toBe(503);
    expect(JSON.parse(leave.body)).toEqual({ message: 'This node is not part of a swarm' });
    for (const path of ['/swarm', '/services', '/nodes', '/tasks', '/secrets', '/configs', '/services/x', '/nodes/x']) {
      const r = await request(t.socketPath, 'GET', `/v1.41${path}`);
      expect(r.status, path).toBe(503);
      expect(JSON.parse(r.body).message).toMatch(/^This node is not a swarm manager\. Use "docker swarm init"/);
    }
    const cli = await run('docker', ['swarm', 'leave', '--force'], { env: t.dockerEnv }).catch((e: { stderr: string }) => e);
    expect(cli.stderr).toBe('Error response from daemon: This node is not part of a swarm\n');
    const nodes = await run('docker', ['node', 'ls'], { env: t.dockerEnv }).catch((e: { stderr: string }) => e);
    expect(nodes.stderr).toContain('This node is not a swarm manager.');
  });

  it('maps bodies and engine errors to Docker status codes and messages', async () => {
    const json = { 'Content-Type': 'application/json' };
    const bad = await request(t.socketPath, 'POST', '/v1.50/containers/create', { body: '{"Image": busybox', headers: json });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).message).toBe("invalid JSON: invalid character 'b' looking for beginning of value");
    const empty = await request(t.socketPath, 'POST', '/v1.50/containers/create', { body: '', headers: json });
    expect(empty.status).toBe(400);
    expect(JSON.parse(empty.body).message).toBe('invalid JSON: got EOF while reading request body');
    const wrongType = await request(t.socketPath, 'POST', '/containers/create', { body: '{"Image": 3}', headers: json });
    expect(wrongType.status).toBe(400);
    // An empty JSON body where none is needed is fine (the CLI sends those).
    await client.containerCreate({ Image: 'busybox' }, { name: 'plain' });
    const start = await request(t.socketPath, 'POST', '/v1.50/containers/plain/start', { body: '', headers: json });
    expect(start.status).toBe(204);
    const missing = await request(t.socketPath, 'POST', '/containers/create', { body: '{"Image":"missing"}', headers: json });
    expect(missing.status).toBe(404);
    expect(missing.headers['content-type']).toBe('application/json');
    expect(JSON.parse(missing.body)).toEqual({ message: 'No such image: missing' });
    const cli = await run('docker', ['inspect', '--type', 'container', 'ghost'], { env: t.dockerEnv }).catch((e: { stderr: string }) => e);
    expect(cli.stderr).toBe('Error response from daemon: No such container: ghost\n');
    const cliErr = await run('docker', ['start', 'ghost'], { env: t.dockerEnv }).catch((e: { stderr: string }) => e);
    expect(cliErr.stderr).toContain('Error response from daemon: No such container: ghost');
    await expect(client.containerCreate({ Image: 'busybox' }, { name: 'plain' })).rejects.toBeInstanceOf(ConflictError);
    await expect(client.containerInspect('ghost')).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.containerWait('plain', { condition: 'bogus' as 'removed' })).rejects.toBeInstanceOf(InvalidArgumentError);
    const unsupported = await request(t.socketPath, 'GET', '/volumes');
    expect(unsupported.status).toBe(501);
  });

  it('flushes wait headers before the exit, then sends the status; a dropped wait is harmless', async () => {
    await client.containerCreate({ Image: 'busybox' }, { name: 'waiter' });
    let headersAt = 0;
    const waiting = client.containerWait('waiter', { condition: 'next-exit', onHeaders: () => (headersAt = Date.now()) });
    const c = scripted.containers.get('waiter')!;
    for (let i = 0; i < 50 && headersAt === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(headersAt).toBeGreaterThan(0);
    expect(c.waits).toBe(1);
    // a second waiter that goes away before the exit
    const dropped = http.request({ socketPath: t.socketPath, method: 'POST', path: '/v1.50/containers/waiter/wait', agent: false });
    dropped.on('error', () => {});
    const gotHeaders = new Promise<void>((resolve) => dropped.on('response', () => resolve()));
    dropped.end();
    await gotHeaders;
    dropped.destroy();
    const exitedAt = Date.now();
    c.exit(3);
    const r = await waiting;
    expect(r).toEqual({ StatusCode: 3, Error: null });
    expect(headersAt).toBeLessThanOrEqual(exitedAt);
    expect((await request(t.socketPath, 'GET', '/_ping')).status).toBe(200);
  });

  it('hijacks attach: 101 UPGRADED at once, framed output, stdin and its EOF passed on', async () => {
    await client.containerCreate({ Image: 'busybox' }, { name: 'att' });
    const c = scripted.containers.get('att')!;
    const { text, socket } = await rawExchange(
      t.socketPath,
      'POST /v1.50/containers/att/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n',
      (s) => s.includes('\r\n\r\n'),
    );
    expect(text).toMatch(/^HTTP\/1\.1 101 UPGRADED\r\n/);
    expect(text).toContain('Content-Type: application/vnd.docker.multiplexed-stream\r\n');
    expect(text).toContain('Connection: Upgrade\r\n');
    expect(text).toContain('Upgrade: tcp\r\n');
    expect(text).toContain('Api-Version: 1.50\r\n');
    const received: Buffer[] = [];
    socket.on('data', (d: Buffer) => received.push(d));
    const stdinData: Buffer[] = [];
    c.stdin.on('data', (d: Buffer) => stdinData.push(d));
    const stdinEnded = new Promise<void>((r) => c.stdin.on('end', () => r()));
    socket.write('hello stdin\n');
    socket.end();
    await stdinEnded;
    expect(Buffer.concat(stdinData).toString()).toBe('hello stdin\n');
    c.output.write({ stream: 'stdout', data: Buffer.from('to out\n') });
    c.output.write({ stream: 'stderr', data: Buffer.from('to err\n') });
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    c.exit(0);
    await closed;
    const frames = new FrameDecoder().push(Buffer.concat(received));
    expect(frames.map((f) => [f.stream, f.payload.toString()])).toEqual([
      [1, 'to out\n'],
      [2, 'to err\n'],
    ]);
  });

  it('attach through EngineClient: raw stream for a TTY, framed stream demuxed otherwise', async () => {
    await client.containerCreate({ Image: 'busybox', Tty: true }, { name: 'tty' });
    const tty = scripted.containers.get('tty')!;
    const a = await client.containerAttach('tty', { stdin: true });
    expect(a.multiplexed).toBe(false);
    const chunks: Buffer[] = [];
    a.stream.on('data', (d: Buffer) => chunks.push(d));
    const ended = new Promise<void>((r) => a.stream.on('end', () => r()));
    tty.output.write({ stream: 'stdout', data: Buffer.from('\x1b[1mraw\r\n') });
    tty.exit(0);
    await ended;
    expect(Buffer.concat(chunks).toString()).toBe('\x1b[1mraw\r\n');

    await client.containerCreate({ Image: 'busybox' }, { name: 'mux' });
    const mux = scripted.containers.get('mux')!;
    const b = await client.containerAttach('mux');
    expect(b.multiplexed).toBe(true);
    const out = new PassThrough();
    const err = new PassThrough();
    const demuxed = demultiplexStream(b.stream, out, err);
    mux.output.write({ stream: 'stdout', data: Buffer.from('a\n') });
    mux.output.write({ stream: 'stderr', data: Buffer.from('b\n') });
    mux.exit(0);
    await demuxed;
    out.end();
    err.end();
    expect((await out.toArray()).join('')).toBe('a\n');
    expect((await err.toArray()).join('')).toBe('b\n');
  });

  it('attach for API < 1.42 says raw-stream but still frames output without a TTY', async () => {
    await client.containerCreate({ Image: 'busybox' }, { name: 'old' });
    const { text, socket } = await rawExchange(
      t.socketPath,
      'POST /v1.41/containers/old/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n',
      (s) => s.includes('\r\n\r\n'),
    );
    expect(text).toContain('Content-Type: application/vnd.docker.raw-stream\r\n');
    const received: Buffer[] = [];
    socket.on('data', (d: Buffer) => received.push(d));
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    scripted.containers.get('old')!.output.write({ stream: 'stdout', data: Buffer.from('x') });
    scripted.containers.get('old')!.exit(0);
    await closed;
    expect(Buffer.concat([Buffer.from(text.slice(text.indexOf('\r\n\r\n') + 4), 'latin1'), ...received])).toEqual(encodeFrame(1, 'x'));
  });

  it('attach without Upgrade falls back to a plain streamed response', async () => {
    await client.containerCreate({ Image: 'busybox' }, { name: 'plainattach' });
    const c = scripted.containers.get('plainattach')!;
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request({ socketPath: t.socketPath, method: 'POST', path: '/v1.50/containers/plainattach/attach?stream=1&stdout=1&stderr=1', agent: false }, resolve);
      req.on('error', reject);
      req.end();
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/vnd.docker.multiplexed-stream');
    const body = res.toArray();
    c.output.write({ stream: 'stdout', data: Buffer.from('plain\n') });
    c.exit(0);
    expect(Buffer.concat(await body)).toEqual(encodeFrame(1, 'plain\n'));
  });

  it('answers an attach to a missing container on the upgrade connection with 404', async () => {
    const { text } = await rawExchange(
      t.socketPath,
      'POST /v1.50/containers/ghost/attach?stream=1 HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n',
      (s) => s.includes('}'),
    );
    expect(text).toMatch(/^HTTP\/1\.1 404 /);
    expect(text).toContain('{"message":"No such container: ghost"}');
  });

  it('frames logs and prefixes Docker timestamps', async () => {
    await client.containerCreate({ Image: 'busybox' }, { name: 'logs' });
    const res = await client.containerLogs('logs', { timestamps: true });
    expect(res.headers['content-type']).toBe('application/vnd.docker.multiplexed-stream');
    const out = new PassThrough();
    const err = new PassThrough();
    await demultiplexStream(res, out, err);
    out.end();
    err.end();
    expect((await out.toArray()).join('')).toBe('2026-11-27T04:04:42.894804476Z out line\n');
    expect((await err.toArray()).join('')).toBe('2026-11-27T04:04:43.000000000Z err line\n');
    const none = await request(t.socketPath, 'GET', '/containers/logs/logs');
    expect(none.status).toBe(400);
    expect(JSON.parse(none.body).message).toBe('Bad parameters: you must choose at least one stream');
  });

  it('streams pull progress; an error before any output is a status, after it an error line', async () => {
    const msgs = [];
    for await (const m of client.imagePull('busybox', { tag: 'latest' })) msgs.push(m);
    expect(msgs.map((m) => m.status)).toEqual(['Pulling from busybox:latest', 'Status: Downloaded newer image for busybox:latest']);
    await expect(
      (async () => {
        for await (const _ of client.imagePull('nothere')) {
          // consume
        }
      })(),
    ).rejects.toBeInstanceOf(NotFoundError);
    const r = await request(t.socketPath, 'POST', '/images/create?fromImage=broken&tag=1');
    expect(r.status).toBe(200);
    const lines = r.body.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines[0]).toEqual({ status: 'Pulling from broken:1', id: 'latest' });
    expect(lines.at(-1)).toEqual({ errorDetail: { code: 500, message: 'unexpected EOF' }, error: 'unexpected EOF' });
  });

  it('streams events to EngineClient as they happen', async () => {
    const it = client.events()[Symbol.asyncIterator]();
    const next = it.next();
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setTimeout(r, 20));
      const info = await client.info();
      if (info.NEventsListener > 0) break;
    }
    scripted.events({ Action: 'create', Actor: { ID: 'abc', Attributes: { name: 'n' } } });
    const first = await next;
    expect(first.value).toMatchObject({ Type: 'container', Action: 'create', Actor: { ID: 'abc' } });
    await it.return?.(undefined);
  });

  it('negotiates the API version in EngineClient and reports version and info', async () => {
    expect(await client.apiVersion()).toBe('1.50');
    const ping = await client.ping();
    expect(ping).toMatchObject({ apiVersion: '1.50', osType: 'linux', experimental: false });
    const info = await client.info();
    expect(info.ID).toBe('SCRIPTED');
    expect(info.OSType).toBe('linux');
    expect(info.RegistryConfig.InsecureRegistryCIDRs).toEqual(['127.0.0.0/8']);
    expect(info.DockerRootDir).toBe(`${t.dir}/root`);
    const pinned = new EngineClient({ host: t.host, apiVersion: '1.41' });
    expect((await pinned.version()).ApiVersion).toBe('1.50');
    pinned.close();
  });

  it('works for the real docker CLI: version and info', async () => {
    const v = await run('docker', ['version', '--format', '{{.Server.Version}} {{.Server.APIVersion}} {{.Server.MinAPIVersion}} {{.Client.APIVersion}}'], { env: t.dockerEnv });
    expect(v.stdout.trim()).toBe('0.1.0 1.50 1.24 1.50');
    const full = await run('docker', ['version'], { env: t.dockerEnv });
    expect(full.stdout).toContain('Server: Berth');
    const info = await run('docker', ['info', '--format', '{{json .}}'], { env: t.dockerEnv });
    const parsed = JSON.parse(info.stdout);
    expect(parsed.ServerVersion).toBe('0.1.0');
    expect(parsed.OSType).toBe('linux');
    expect(parsed.ServerErrors ?? []).toEqual([]);
    const text = await run('docker', ['info'], { env: t.dockerEnv });
    expect(text.stdout).toContain('Server Version: 0.1.0');
    expect(text.stdout).toContain('127.0.0.0/8');
  });

  it('works for dockerode: ping, version, info', async () => {
    const docker = new Docker({ socketPath: t.socketPath });
    expect(String(await docker.ping())).toBe('OK');
    expect((await docker.version()).ApiVersion).toBe('1.50');
    expect((await docker.info()).ID).toBe('SCRIPTED');
  });

  it('keeps the socket at mode 0660 and writes the pid file', async () => {
    const st = await stat(t.socketPath);
    expect(st.mode & 0o777).toBe(0o660);
    expect(st.isSocket()).toBe(true);
    const pid = await stat(t.daemon.pidFile);
    expect(pid.isFile()).toBe(true);
  });
});

// The docker CLI's `run` sequence (create, attach, wait, start) against the protocol alone:
// if either ordering trap were wrong the CLI would hang or lose output.
describe('docker run sequence against the protocol', () => {
  let t: TestDaemon;
  let scripted: ReturnType<typeof scriptedEngine>;
  beforeAll(async () => {
    scripted = scriptedEngine();
    // Each started container prints on both streams, echoes its stdin, then exits 7.
    scripted.setDefaultStart((c) => {
      setTimeout(() => {
        c.output.write({ stream: 'stdout', data: Buffer.from('hello from run\n') });
        c.output.write({ stream: 'stderr', data: Buffer.from('warning\n') });
        const input: Buffer[] = [];
        c.stdin.on('data', (d: Buffer) => input.push(d));
        c.stdin.on('end', () => {
          if (input.length > 0) c.output.write({ stream: 'stdout', data: Buffer.concat(input) });
          setTimeout(() => c.exit(7), 20);
        });
        if (!c.stdinAttached) setTimeout(() => c.exit(7), 20);
      }, 50);
    });
    t = await startTestDaemon({ engine: scripted.engine });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('docker run prints both streams and exits with the container status', async () => {
    const r = await run('docker', ['run', '--rm', 'busybox', 'echo', 'hi'], { env: t.dockerEnv }).catch((e: { code: number; stdout: string; stderr: string }) => e);
    expect((r as { code?: number }).code).toBe(7);
    expect(r.stdout).toBe('hello from run\n');
    expect(r.stderr).toBe('warning\n');
  });

  it('docker run -i passes piped stdin through to EOF', async () => {
    const child = execFile('docker', ['run', '-i', 'busybox', 'cat'], { env: t.dockerEnv });
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stdin!.end('piped input\n');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(7);
    expect(stdout).toBe('hello from run\npiped input\n');
  });

  it('docker exec: the JSON body of an upgraded exec start reaches the route, stdin and output flow', async () => {
    await run('docker', ['create', '--name', 'ex', 'busybox'], { env: t.dockerEnv });
    const child = execFile('docker', ['exec', '-i', 'ex', 'cat'], { env: t.dockerEnv });
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stdin!.end('exec input\n');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(stdout).toBe('exec input\n');
    expect(code).toBe(9);
    expect(scripted.lastExecStart).toEqual({ detach: false, tty: false });
  });

  it('docker run -d prints the ID and leaves the container to run', async () => {
    const r = await run('docker', ['run', '-d', '--name', 'bg', 'busybox', 'sleep', '1'], { env: t.dockerEnv });
    expect(r.stdout.trim()).toBe('bg');
    expect(scripted.containers.get('bg')!.started).toBe(1);
  });
});
