import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineClient } from '@berth/engine-api';
import { removeDaemonNetwork, seededRegistry, type SeededRegistry } from '@berth/fixtures';
import { isolatedNetworkConfig } from './support/daemon.js';
import { spawnDaemon, type DaemonProcess } from './support/process.js';

/**
 * A raw client on berthd's socket: sends `head` (and `body`, possibly only part of what
 * Content-Length promised), then hangs up once `readBytes` bytes of the answer came in (0:
 * as soon as the request is out). Resolves with what it read.
 */
function hangUp(socketPath: string, head: string, opts: { body?: Buffer; readBytes?: number } = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    const got: Buffer[] = [];
    let n = 0;
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no ${opts.readBytes} bytes from ${head.split('\r\n')[0]}: got ${Buffer.concat(got).toString('latin1').slice(0, 300)}`));
    }, 20_000);
    const done = (): void => {
      clearTimeout(timer);
      // unread bytes left in the socket: the daemon sees a reset, not a clean close
      s.destroy();
      resolve(Buffer.concat(got));
    };
    s.on('error', () => {});
    s.on('data', (d: Buffer) => {
      got.push(d);
      n += d.length;
      if (n >= (opts.readBytes ?? 0)) done();
    });
    s.once('connect', () => {
      s.write(head);
      if (opts.body) s.write(opts.body);
      if (!opts.readBytes) s.write('', () => done());
    });
  });
}

/** A tar of one file of `size` bytes (header and body, no end blocks). */
function tarStart(name: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0);
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(size.toString(8).padStart(11, '0') + '\0', 124);
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\x0000', 257);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return Buffer.concat([h, Buffer.alloc(Math.min(size, 256 * 1024), 0x61)]);
}

// Clients that go away mid-stream (a CLI killed, a pipe closed, a network cut) must leave
// berthd alive and answering, with nothing unhandled in its log: every stream on the
// daemon side has an error handler.
describe('berthd when clients hang up mid-stream', () => {
  let dir: string;
  let daemon: DaemonProcess | undefined;
  let client: EngineClient;
  let reg: SeededRegistry;
  let sock: string;
  let ctr: string;
  const network = isolatedNetworkConfig();
  const v = '/v1.50';

  /** Files of its root berthd holds open (its database aside). */
  const openFiles = async (): Promise<string[]> => {
    const fds = await readdir(`/proc/${daemon!.pid}/fd`);
    const paths = await Promise.all(fds.map((fd) => readlink(`/proc/${daemon!.pid}/fd/${fd}`).catch(() => '')));
    return paths.filter((p) => p.startsWith(dir) && !/\/berth\.db(-wal|-shm)?$/.test(p));
  };
  /**
   * berthd alive and answering, and no stream of a gone client left holding a file (a
   * blob, an ingest, a layer): such a handle is only closed by the garbage collector,
   * if ever, so it is looked for directly (bounded: closing takes a moment).
   */
  const ping = async (): Promise<void> => {
    expect(daemon!.child.exitCode, daemon!.output()).toBeNull();
    const probe = new EngineClient({ socketPath: sock });
    try {
      expect((await probe.ping()).apiVersion).toBe('1.50');
    } finally {
      probe.close();
    }
    let open = await openFiles();
    for (let i = 0; i < 30 && open.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      open = await openFiles();
    }
    expect(open).toEqual([]);
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berthd-hangups-'));
    sock = join(dir, 'run', 'berthd.sock');
    await writeFile(join(dir, 'daemon.json'), JSON.stringify(network));
    [daemon, reg] = await Promise.all([
      spawnDaemon({ root: join(dir, 'root'), runRoot: join(dir, 'run'), socketPath: sock, configFile: join(dir, 'daemon.json') }),
      seededRegistry(),
    ]);
    client = new EngineClient({ socketPath: sock });
    for await (const _ of client.imagePull(reg.busybox)) {
      // wait for the pull
    }
    // 1 MB of output, then quiet: every stream of it has more than a client reads
    const created = await client.containerCreate({
      Image: reg.busybox,
      Cmd: ['sh', '-c', 'head -c 1000000 /dev/zero | tr "\\0" x; echo; sleep 300'],
      OpenStdin: true,
      HostConfig: { NetworkMode: 'none' },
    });
    ctr = created.Id;
    await client.containerStart(ctr);
    await new Promise((r) => setTimeout(r, 300));
  }, 180_000);

  afterAll(async () => {
    // a daemon that crashed left its containers: a new one cleans them up
    if (daemon && daemon.child.exitCode !== null) {
      daemon = await spawnDaemon({ root: join(dir, 'root'), runRoot: join(dir, 'run'), socketPath: sock, configFile: join(dir, 'daemon.json') }).catch(() => undefined);
      client?.close();
      client = new EngineClient({ socketPath: sock });
    }
    if (daemon && daemon.child.exitCode === null) {
      for (const c of await client.containerList({ all: true }).catch(() => [])) await client.containerRemove(c.Id, { force: true }).catch(() => {});
      client.close();
      daemon.child.kill('SIGTERM');
      await daemon.exited;
    }
    await reg?.stop();
    await removeDaemonNetwork(network.bridge, network.bip);
    await rm(dir, { recursive: true, force: true });
  });

  it('logs, attach and exec output: the reader goes away', async () => {
    await hangUp(sock, `GET ${v}/containers/${ctr}/logs?stdout=1&stderr=1&follow=1 HTTP/1.1\r\nHost: x\r\n\r\n`, { readBytes: 64 * 1024 });
    await hangUp(sock, `GET ${v}/containers/${ctr}/logs?stdout=1&follow=1 HTTP/1.1\r\nHost: x\r\n\r\n`);
    await ping();
    const attach = `POST ${v}/containers/${ctr}/attach?stream=1&logs=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n`;
    await hangUp(sock, attach, { readBytes: 64 * 1024 });
    await hangUp(sock, attach);
    // gone before the daemon answers an upgrade with an error (its socket has left the HTTP server's care)
    for (let i = 0; i < 5; i++) {
      await hangUp(sock, `POST ${v}/containers/nope-${i}/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n`);
      await hangUp(sock, `POST ${v}/exec/nope-${i}/start HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`);
    }
    // not upgraded: an ordinary streamed response
    await hangUp(sock, `POST ${v}/containers/${ctr}/attach?stream=1&logs=1&stdout=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`, { readBytes: 64 * 1024 });
    await ping();
    for (const readBytes of [64 * 1024, 0]) {
      const exec = await client.execCreate(ctr, { Cmd: ['sh', '-c', 'head -c 2000000 /dev/zero; sleep 30'], AttachStdout: true, AttachStderr: true, AttachStdin: true });
      const body = '{"Detach":false,"Tty":false}';
      await hangUp(sock, `POST ${v}/exec/${exec.Id}/start HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`, { readBytes });
    }
    await ping();
    // the container is still attachable and its logs readable after all that
    const logs = await client.containerLogs(ctr, { tail: 1 });
    let text = '';
    for await (const c of logs) text += (c as Buffer).toString('latin1');
    expect(text).toContain('x');
  });

  it('export, get-archive, save, events and stats: the reader goes away', async () => {
    await hangUp(sock, `GET ${v}/containers/${ctr}/export HTTP/1.1\r\nHost: x\r\n\r\n`, { readBytes: 64 * 1024 });
    await hangUp(sock, `GET ${v}/containers/${ctr}/export HTTP/1.1\r\nHost: x\r\n\r\n`);
    await hangUp(sock, `GET ${v}/containers/${ctr}/archive?path=/bin HTTP/1.1\r\nHost: x\r\n\r\n`, { readBytes: 64 * 1024 });
    await hangUp(sock, `GET ${v}/containers/${ctr}/archive?path=/bin HTTP/1.1\r\nHost: x\r\n\r\n`);
    await hangUp(sock, `GET ${v}/images/get?names=${encodeURIComponent(reg.busybox)} HTTP/1.1\r\nHost: x\r\n\r\n`, { readBytes: 64 * 1024 });
    await hangUp(sock, `GET ${v}/images/get?names=${encodeURIComponent(reg.busybox)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await ping();
    await hangUp(sock, `GET ${v}/events HTTP/1.1\r\nHost: x\r\n\r\n`, { readBytes: 10 });
    await hangUp(sock, `GET ${v}/containers/${ctr}/stats HTTP/1.1\r\nHost: x\r\n\r\n`, { readBytes: 100 });
    await ping();
    // the container's snapshot is not left busy: a whole export still works
    const tar = await client.containerExport(ctr);
    let n = 0;
    for await (const c of tar) n += (c as Buffer).length;
    expect(n).toBeGreaterThan(100_000);
  });

  it('put-archive, load, import and build: the sender goes away mid-upload', async () => {
    const partial = tarStart('big.bin', 10_000_000);
    const upload = (path: string, type = 'application/x-tar'): string =>
      `${path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nContent-Length: 10001024\r\n\r\n`;
    await hangUp(sock, upload(`PUT ${v}/containers/${ctr}/archive?path=/tmp`), { body: partial });
    await hangUp(sock, `PUT ${v}/containers/${ctr}/archive?path=/tmp HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n${partial.length.toString(16)}\r\n`, { body: partial });
    // the daemon answers an error before reading the body, and the client is gone
    await hangUp(sock, upload(`PUT ${v}/containers/${ctr}/archive?path=/nope`), { body: partial, readBytes: 12 });
    await ping();
    await hangUp(sock, upload(`POST ${v}/images/load`), { body: partial });
    await hangUp(sock, upload(`POST ${v}/images/create?fromSrc=-&repo=hangup-import`), { body: partial });
    await hangUp(sock, upload(`POST ${v}/build?t=hangup-build`), { body: partial });
    await ping();
    // a build whose output the client stops reading
    const context = await new Promise<Buffer>((resolve, reject) => {
      const d = join(dir, 'ctx');
      execFile('sh', ['-c', `mkdir -p ${d} && printf 'FROM ${reg.busybox}\\nRUN seq 1 100000\\nRUN true\\n' > ${d}/Dockerfile && tar -C ${d} -cf - Dockerfile`], { encoding: 'buffer' }, (err, out) =>
        err ? reject(err) : resolve(out),
      );
    });
    await hangUp(sock, `POST ${v}/build?t=hangup-build HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\nContent-Length: ${context.length}\r\n\r\n`, { body: context, readBytes: 4096 });
    await ping();
    // as Docker: the cancelled build's step container is killed and removed
    let left = await client.containerList({ all: true });
    for (let i = 0; i < 50 && left.length > 1; i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = await client.containerList({ all: true });
    }
    expect(left.map((c) => c.Id)).toEqual([ctr]);
  });

  it('pull progress: the reader goes away', async () => {
    await client.imageRemove(reg.busybox, { force: true }).catch(() => []);
    await hangUp(sock, `POST ${v}/images/create?fromImage=${encodeURIComponent(reg.busybox)} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`, { readBytes: 200 });
    await hangUp(sock, `POST ${v}/images/create?fromImage=${encodeURIComponent(reg.busybox)} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`);
    await ping();
    // the pull still completes for the next client
    for await (const _ of client.imagePull(reg.busybox)) {
      // wait
    }
    expect((await client.imageInspect(reg.busybox)).Id).toMatch(/^sha256:/);
  });

  it('berthd logged nothing unhandled', async () => {
    // give late errors (a destroyed stream's last callback) their chance
    await new Promise((r) => setTimeout(r, 500));
    await ping();
    expect(daemon!.output()).not.toMatch(/unhandled|uncaught|ERR_STREAM|EPIPE|ECONNRESET|Closing file descriptor|"level":50/i);
  });
});
