import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PORT_FORWARD_PROTOCOLS, REMOTE_COMMAND_PROTOCOLS, dialSpdy, dialWebSocket, type SpdyConnection, type SpdyStream } from '@berth/cri';
import { removeDaemonNetwork, seededRegistry, type SeededRegistry } from '@berth/fixtures';
import { startDaemon, type Daemon } from '../src/index.js';
import { isolatedNetworkConfig } from './support/daemon.js';
import { criClient, type CriClient } from './support/cri-client.js';

// The CRI's streaming URLs (Exec, Attach, PortForward) driven as kubelet's clients drive them:
// SPDY/3.1 through Berth's own codec, against a real berthd on a temp root.
let dir: string;
let reg: SeededRegistry;
let daemon: Daemon | undefined;
let cri: CriClient;
const network = isolatedNetworkConfig();

const allBytes = (): Buffer => Buffer.from(Array.from({ length: 256 }, (_, i) => i));

function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (b: Buffer) => parts.push(b));
    s.on('end', () => resolve(Buffer.concat(parts)));
    s.on('error', reject);
  });
}

/** Collects a stream's bytes as they come, for waiting on a part of the output. */
function collector(s: SpdyStream): { text(): string; until(re: RegExp, ms?: number): Promise<void>; ended: Promise<Buffer> } {
  const parts: Buffer[] = [];
  s.on('data', (b: Buffer) => parts.push(b));
  const ended = new Promise<Buffer>((resolve) => s.on('end', () => resolve(Buffer.concat(parts))));
  const text = (): string => Buffer.concat(parts).toString('utf8');
  return {
    text,
    ended,
    async until(re, ms = 15_000) {
      const end = Date.now() + ms;
      while (!re.test(text())) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${re} in ${JSON.stringify(text())}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

/** A remote-command session as client-go opens it: the error stream first, then stdin, stdout, stderr, resize. */
async function session(url: string, want: { stdin?: boolean; stdout?: boolean; stderr?: boolean; resize?: boolean }, protocols = REMOTE_COMMAND_PROTOCOLS) {
  const { conn, protocol } = await dialSpdy(url, protocols);
  const error = conn.openStream({ streamType: 'error' });
  const stdin = want.stdin ? conn.openStream({ streamType: 'stdin' }) : undefined;
  const stdout = want.stdout ? conn.openStream({ streamType: 'stdout' }) : undefined;
  const stderr = want.stderr ? conn.openStream({ streamType: 'stderr' }) : undefined;
  const resize = want.resize ? conn.openStream({ streamType: 'resize' }) : undefined;
  const closed = new Promise<void>((r) => conn.once('close', () => r()));
  return { conn, protocol, error: readAll(error), stdin, stdout, stderr, resize, closed };
}

async function runPod(name: string, hostNetwork = false): Promise<{ id: string; config: any }> {
  const config = {
    metadata: { name, uid: `uid-${name}-${process.pid}`, namespace: 'crist', attempt: 0 },
    hostname: name,
    log_directory: join(dir, 'pods', name),
    linux: hostNetwork ? { security_context: { namespace_options: { network: 2 } } } : {},
  };
  const { pod_sandbox_id } = await cri.rt('RunPodSandbox', { config });
  return { id: pod_sandbox_id, config };
}

async function runContainer(pod: { id: string; config: any }, name: string, config: object): Promise<string> {
  const { container_id } = await cri.rt('CreateContainer', { pod_sandbox_id: pod.id, config: { metadata: { name }, image: { image: reg.busybox }, log_path: `${name}.log`, ...config }, sandbox_config: pod.config });
  await cri.rt('StartContainer', { container_id });
  return container_id;
}

async function execUrl(id: string, cmd: string[], o: { stdin?: boolean; stdout?: boolean; stderr?: boolean; tty?: boolean }): Promise<string> {
  return (await cri.rt('Exec', { container_id: id, cmd, ...o })).url;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A pod serving `text` at /index.html on port 8080 inside its network namespace (nothing published on the host). */
async function webPod(name: string, text: string): Promise<{ pod: { id: string; config: any }; id: string }> {
  const pod = await runPod(name);
  const id = await runContainer(pod, 'web', { command: ['sh', '-c', `mkdir -p /www && printf ${text} > /www/index.html && exec httpd -f -p 8080 -h /www`] });
  for (let i = 0; i < 100; i++) {
    const r = await cri.rt('ExecSync', { container_id: id, cmd: ['wget', '-qO-', 'http://127.0.0.1:8080/index.html'], timeout: 5 });
    if (r.exit_code === 0) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  return { pod, id };
}

let shell: { pod: { id: string; config: any }; id: string };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berthd-cri-streaming-'));
  const configFile = join(dir, 'daemon.json');
  await writeFile(configFile, JSON.stringify(network));
  reg = await seededRegistry();
  const criSocket = join(dir, 'run', 'cri.sock');
  daemon = await startDaemon({ root: join(dir, 'root'), runRoot: join(dir, 'run'), configFile, hosts: [`unix://${join(dir, 'run', 'berthd.sock')}`], cri: `unix://${criSocket}` });
  cri = criClient(criSocket);
  await cri.img('PullImage', { image: { image: reg.busybox } });
  const pod = await runPod('shell');
  shell = { pod, id: await runContainer(pod, 'sleeper', { command: ['sleep', '3600'] }) };
});

afterAll(async () => {
  if (daemon) {
    const pods = (await cri.rt('ListPodSandbox', {}).catch(() => ({ items: [] }))).items as { id: string }[];
    for (const p of pods) await cri.rt('RemovePodSandbox', { pod_sandbox_id: p.id }).catch(() => undefined);
    cri.close();
    await daemon.close();
  }
  await reg?.stop();
  await removeDaemonNetwork(network.bridge, network.bip);
  await rm(dir, { recursive: true, force: true });
});

describe('CRI streaming (SPDY/3.1)', () => {
  it('exec without a tty: stdout and stderr apart, the exit code as kubelet reports it (v4 status)', async () => {
    const url = await execUrl(shell.id, ['sh', '-c', 'printf out1; echo err1 >&2; printf out2; exit 3'], { stdout: true, stderr: true });
    const s = await session(url, { stdout: true, stderr: true });
    expect(s.protocol).toBe('v4.channel.k8s.io');
    const [out, err, status] = await Promise.all([readAll(s.stdout!), readAll(s.stderr!), s.error]);
    expect(out.toString()).toBe('out1out2');
    expect(err.toString()).toBe('err1\n');
    expect(JSON.parse(status.toString())).toMatchObject({
      metadata: {},
      status: 'Failure',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '3' }] },
    });
    await s.closed;

    const ok = await session(await execUrl(shell.id, ['true'], { stdout: true }), { stdout: true });
    expect(await readAll(ok.stdout!)).toEqual(Buffer.alloc(0));
    expect(JSON.parse((await ok.error).toString())).toEqual({ metadata: {}, status: 'Success' });
  });

  it('round-trips every byte value through stdin and stdout (1 MiB, bytes untouched)', async () => {
    const payload = Buffer.concat(Array.from({ length: 4096 }, allBytes));
    const s = await session(await execUrl(shell.id, ['cat'], { stdin: true, stdout: true }), { stdin: true, stdout: true });
    const out = readAll(s.stdout!);
    s.stdin!.end(payload);
    expect((await out).equals(payload)).toBe(true);
    expect(JSON.parse((await s.error).toString())).toEqual({ metadata: {}, status: 'Success' });
  });

  it('exec with a tty and stdin: input reaches the shell, resizes reach the terminal, exit code reported', async () => {
    const s = await session(await execUrl(shell.id, ['sh'], { stdin: true, stdout: true, tty: true }), { stdin: true, stdout: true, resize: true });
    const out = collector(s.stdout!);
    s.resize!.write('{"Width":100,"Height":33}\n');
    // the size lands asynchronously: ask until the terminal says so
    const asking = setInterval(() => s.stdin!.write('stty size\n'), 300);
    try {
      await out.until(/33 100/);
    } finally {
      clearInterval(asking);
    }
    s.stdin!.write('echo tty-$((40+2))\nexit 7\n');
    await out.until(/tty-42/);
    const status = JSON.parse((await s.error).toString());
    expect(status).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '7' }] } });
  });

  it('stays bounded in memory while the client does not read (64 MiB held back, then all of it)', async () => {
    const total = 64 * 1024 * 1024;
    const s = await session(await execUrl(shell.id, ['head', '-c', String(total), '/dev/zero'], { stdout: true }), { stdout: true });
    await new Promise((r) => setTimeout(r, 300));
    const before = process.memoryUsage().arrayBuffers;
    await new Promise((r) => setTimeout(r, 1500)); // the reader (this process, as berthd is) takes nothing meanwhile
    const grown = process.memoryUsage().arrayBuffers - before;
    let n = 0;
    s.stdout!.on('data', (b: Buffer) => (n += b.length));
    await new Promise((r) => s.stdout!.once('end', r));
    expect(n).toBe(total);
    expect(grown).toBeLessThan(16 * 1024 * 1024);
    expect(JSON.parse((await s.error).toString())).toEqual({ metadata: {}, status: 'Success' });
  });

  it('ends the exec when the client goes away (the process is killed, nothing left behind)', async () => {
    const s = await session(await execUrl(shell.id, ['sh', '-c', 'echo started; exec sleep 4321'], { stdout: true }), { stdout: true });
    const out = collector(s.stdout!);
    await out.until(/started/);
    s.conn.destroy();
    const ps = async (): Promise<string> => Buffer.from((await cri.rt('ExecSync', { container_id: shell.id, cmd: ['ps', '-o', 'args'], timeout: 10 })).stdout).toString();
    for (let i = 0; i < 100 && /sleep 4321/.test(await ps()); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await ps()).not.toMatch(/sleep 4321/);
  });

  it('speaks the older protocols it is offered (v2: the error as text) and refuses unknown ones', async () => {
    const url = await execUrl(shell.id, ['sh', '-c', 'echo v2; exit 2'], { stdout: true });
    const s = await session(url, { stdout: true }, ['v2.channel.k8s.io']);
    expect(s.protocol).toBe('v2.channel.k8s.io');
    expect((await readAll(s.stdout!)).toString()).toBe('v2\n');
    expect((await s.error).toString()).toMatch(/^command terminated with non-zero exit code: .*exit code 2$/);
    // a URL is good for one session
    await expect(dialSpdy(url, REMOTE_COMMAND_PROTOCOLS)).rejects.toThrow(/404/);
    const other = await execUrl(shell.id, ['true'], { stdout: true });
    await expect(dialSpdy(other, ['v9.channel.example'])).rejects.toThrow(/403.*unable to negotiate protocol/);
  });

  it('attaches to the main process: input in, stdout and stderr apart, ends when the StdinOnce process does', async () => {
    const pod = await runPod('attach');
    const id = await runContainer(pod, 'sh', { command: ['sh'], stdin: true, stdin_once: true });
    const { url } = await cri.rt('Attach', { container_id: id, stdin: true, stdout: true, stderr: true });
    const s = await session(url, { stdin: true, stdout: true, stderr: true });
    const out = collector(s.stdout!);
    const err = collector(s.stderr!);
    s.stdin!.write('echo attached; echo oops >&2\n');
    await out.until(/attached\n/);
    await err.until(/oops\n/);
    s.stdin!.end(); // StdinOnce: the shell sees its end of input and exits
    expect((await out.ended).toString()).toBe('attached\n');
    expect(JSON.parse((await s.error).toString())).toEqual({ metadata: {}, status: 'Success' });
    await s.closed;
  });

  async function forward(conn: SpdyConnection, port: number, requestID: string, request: Buffer): Promise<{ data: Buffer; error: string }> {
    const error = readAll(conn.openStream({ streamType: 'error', port: String(port), requestID }));
    const data = conn.openStream({ streamType: 'data', port: String(port), requestID });
    const got = readAll(data);
    data.end(request); // a half-close: the pod's side sees its end of input, and still answers
    return { data: await got, error: (await error).toString() };
  }

  it('forwards a port inside the pod network namespace; a closed port is an error on the error stream', async () => {
    const { pod, id } = await webPod('pf', 'hello-pf');
    const { url } = await cri.rt('PortForward', { pod_sandbox_id: pod.id, port: [8080] });
    const { conn, protocol } = await dialSpdy(url, PORT_FORWARD_PROTOCOLS);
    expect(protocol).toBe('portforward.k8s.io');
    const [a, b] = await Promise.all([forward(conn, 8080, '0', Buffer.from('GET /index.html HTTP/1.0\r\n\r\n')), forward(conn, 8080, '1', Buffer.from('GET /index.html HTTP/1.0\r\n\r\n'))]);
    for (const r of [a, b]) {
      expect(r.data.toString()).toMatch(/^HTTP\/1\.[01] 200/);
      expect(r.data.toString()).toMatch(/hello-pf$/);
      expect(r.error).toBe('');
    }
    // 4 MiB of random bytes, unchanged, through the pod's connection and the SPDY stream
    const sum = await cri.rt('ExecSync', { container_id: id, cmd: ['sh', '-c', 'head -c 4194304 /dev/urandom > /www/big && sha256sum /www/big'], timeout: 20 });
    const big = await forward(conn, 8080, '3', Buffer.from('GET /big HTTP/1.0\r\n\r\n'));
    const body = big.data.subarray(big.data.indexOf('\r\n\r\n') + 4);
    expect(body.length).toBe(4194304);
    expect(createHash('sha256').update(body).digest('hex')).toBe(Buffer.from(sum.stdout).toString().split(' ')[0]);
    const refused = await forward(conn, 8081, '2', Buffer.from('x'));
    expect(refused.data.length).toBe(0);
    expect(refused.error).toMatch(/error forwarding port 8081 to pod .*ECONNREFUSED/);
    // a stream without a port is refused at once
    expect(await readAll(conn.openStream({ streamType: 'data' }))).toEqual(Buffer.alloc(0));
    conn.close();
  });

  it('forwards a port of a host-network pod', async () => {
    const port = await freePort();
    const pod = await runPod('pfhost', true);
    await runContainer(pod, 'web', { command: ['sh', '-c', `mkdir -p /tmp/www-${port} && printf hello-host > /tmp/www-${port}/index.html && exec httpd -f -p 127.0.0.1:${port} -h /tmp/www-${port}`] });
    const { url } = await cri.rt('PortForward', { pod_sandbox_id: pod.id, port: [port] });
    const { conn } = await dialSpdy(url, PORT_FORWARD_PROTOCOLS);
    let r: { data: Buffer; error: string } = { data: Buffer.alloc(0), error: '' };
    for (let i = 0; i < 50 && !/hello-host/.test(r.data.toString()); i++) {
      if (i > 0) await new Promise((res) => setTimeout(res, 100));
      r = await forward(conn, port, String(i), Buffer.from('GET /index.html HTTP/1.0\r\n\r\n'));
    }
    expect(r.data.toString()).toMatch(/hello-host$/);
    expect(r.error).toBe('');
    conn.close();
  });
});

describe('CRI streaming (WebSocket)', () => {
  for (const protocol of ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io']) {
    it(`exec over ${protocol}: every byte value in and out, stderr apart, the exit code`, async () => {
      const payload = Buffer.concat(Array.from({ length: 1024 }, allBytes)); // 256 KiB
      const url = await execUrl(shell.id, ['sh', '-c', `head -c ${payload.length}; echo err >&2; exit 5`], { stdin: true, stdout: true, stderr: true });
      const { conn, protocol: got } = await dialWebSocket(url, ['no.such.protocol', protocol]);
      expect(got).toBe(protocol);
      const [out, err, status] = [readAll(conn.readable(1)!), readAll(conn.readable(2)!), readAll(conn.readable(3)!)];
      conn.send(0, payload);
      expect((await out).equals(payload)).toBe(true);
      expect((await err).toString()).toBe('err\n');
      expect(JSON.parse((await status).toString())).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '5' }] } });
    });
  }

  it('forwards a port over a WebSocket: its number first on the data and error channels, then the bytes', async () => {
    const { pod } = await webPod('wspf', 'hello-ws');
    const { url } = await cri.rt('PortForward', { pod_sandbox_id: pod.id, port: [8080] });
    const { conn, protocol } = await dialWebSocket(url, ['v4.channel.k8s.io'], [0, 1]);
    expect(protocol).toBe('v4.channel.k8s.io');
    const [data, error] = [readAll(conn.readable(0)!), readAll(conn.readable(1)!)];
    conn.send(0, Buffer.from('GET /index.html HTTP/1.0\r\n\r\n'));
    const [d, e] = await Promise.all([data, error]); // the server closes once the pod's side has
    expect(d.readUInt16LE(0)).toBe(8080);
    expect(d.subarray(2).toString()).toMatch(/^HTTP\/1\.[01] 200[\s\S]*hello-ws$/);
    expect(e).toEqual(Buffer.from([8080 & 0xff, 8080 >> 8]));
  });

  it('speaks channel.k8s.io (the error as text) and refuses a protocol it does not know', async () => {
    const url = await execUrl(shell.id, ['sh', '-c', 'echo old; exit 4'], { stdout: true });
    const { conn, protocol } = await dialWebSocket(url, ['channel.k8s.io']);
    expect(protocol).toBe('channel.k8s.io');
    const [out, status] = [readAll(conn.readable(1)!), readAll(conn.readable(3)!)];
    expect((await out).toString()).toBe('old\n');
    expect((await status).toString()).toMatch(/^command terminated with non-zero exit code: .*exit code 4$/);
    await expect(dialWebSocket(await execUrl(shell.id, ['true'], { stdout: true }), ['v9.channel.example'])).rejects.toThrow(/403/);
  });
});
