import type { Socket } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDaemon } from './support/fixture.js';
import { dockerOk } from './support/docker-cli.js';
import { rawExchange, request } from './support/http.js';

// Exec as docker-py drives it (raw API, v1.41), answered as dockerd 20.10 answers.
describe('exec over the API', () => {
  const t = useTestDaemon({ busybox: 'builtin' });
  let ctr: string;
  const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
    const res = await request(t.socketPath, method, `/v1.41${path}`, body === undefined ? {} : { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
    return { status: res.status, json: res.body ? (JSON.parse(res.body) as Record<string, unknown>) : {} };
  };
  const execCreate = async (body: Record<string, unknown>): Promise<string> => {
    const r = await api('POST', `/containers/${ctr}/exec`, { AttachStdout: true, AttachStderr: true, ...body });
    expect(r.status).toBe(201);
    return r.json['Id'] as string;
  };
  const startPayload = (id: string, body: unknown): string => {
    const text = JSON.stringify(body);
    return `POST /v1.41/exec/${id}/start HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`;
  };
  /** Starts an exec and reads the whole upgraded stream: [stream type, bytes] frames. */
  const startFramed = async (id: string, body: unknown): Promise<{ head: string; frames: [number, string][] }> => {
    const { text, socket } = await rawExchange(t.socketPath, startPayload(id, body), () => false, 15_000);
    socket.destroy();
    const split = text.indexOf('\r\n\r\n');
    const raw = Buffer.from(text.slice(split + 4), 'latin1');
    const frames: [number, string][] = [];
    for (let at = 0; at + 8 <= raw.length; ) {
      const size = raw.readUInt32BE(at + 4);
      frames.push([raw[at] as number, raw.subarray(at + 8, at + 8 + size).toString('latin1')]);
      at += 8 + size;
    }
    return { head: text.slice(0, split), frames };
  };
  const closed = (socket: Socket, ms: number): Promise<boolean> =>
    new Promise((resolve) => {
      if (socket.destroyed || socket.readableEnded) return resolve(true);
      const timer = setTimeout(() => resolve(false), ms);
      socket.once('close', () => (clearTimeout(timer), resolve(true)));
      socket.once('end', () => (clearTimeout(timer), resolve(true)));
    });

  beforeAll(async () => {
    ctr = (await dockerOk(t.dockerEnv, ['run', '-d', '-i', '--network', 'none', 'busybox', 'cat'])).trim();
  });

  it('an exec created with Tty keeps its TTY when the start body says Tty:false: \\r\\n, all on stdout, framed', async () => {
    const id = await execCreate({ Cmd: ['sh', '-c', 'echo hello out; echo hello err >&2'], Tty: true });
    const { head, frames } = await startFramed(id, { Tty: false, Detach: false });
    expect(head).toContain('101 UPGRADED');
    expect(frames.every(([stream]) => stream === 1)).toBe(true);
    expect(frames.map(([, data]) => data).join('')).toBe('hello out\r\nhello err\r\n');
  });

  it('detach keys end a TTY exec connection and leave the process running: ctrl-p ctrl-q, or the create body\'s detachKeys', async () => {
    for (const [keys, typed, shown] of [[undefined, '\x10\x11', ''], ['ctrl-x', '\x18', 'GA==']] as const) {
      const id = await execCreate({ Cmd: ['cat'], Tty: true, AttachStdin: true, ...(keys ? { detachKeys: keys } : {}) });
      const { socket } = await rawExchange(t.socketPath, startPayload(id, { Tty: true }), (text) => text.includes('\r\n\r\n'));
      socket.on('error', () => {});
      socket.write('typed\n');
      await new Promise((r) => setTimeout(r, 300));
      socket.write(typed);
      expect(await closed(socket, 3000)).toBe(true);
      socket.destroy();
      const info = (await api('GET', `/exec/${id}/json`)).json;
      expect(info['Running'], JSON.stringify(info)).toBe(true);
      // dockerd shows the parsed key bytes (a Go []byte: base64)
      expect(info['DetachKeys']).toBe(shown);
    }
    const bad = await api('POST', `/containers/${ctr}/exec`, { Cmd: ['true'], detachKeys: 'ctrl-xx' });
    expect(bad).toEqual({ status: 500, json: { message: 'Invalid escape keys (ctrl-xx) provided' } });
  });

  it('an exec whose binary is missing exits 127, one that cannot be executed 126 (runc/Docker codes, not the runtime\'s 255)', async () => {
    const codeOf = async (cmd: string[], tty = false): Promise<unknown> => {
      const id = await execCreate({ Cmd: cmd, Tty: tty });
      await startFramed(id, { Tty: false });
      return (await api('GET', `/exec/${id}/json`)).json['ExitCode'];
    };
    expect(await codeOf(['no-such-binary'])).toBe(127);
    expect(await codeOf(['/no/such/binary'])).toBe(127);
    expect(await codeOf(['/etc/passwd'])).toBe(126);
    expect(await codeOf(['sh', '-c', 'exit 255'])).toBe(255);
  });

  it('an exec that cannot start after the stream opened reports in the stream (stdout) and exits 126, as dockerd', async () => {
    const id = await execCreate({ Cmd: ['no-such-binary'], Tty: true });
    const { head, frames } = await startFramed(id, { Tty: false });
    expect(head).toContain('101 UPGRADED');
    expect(frames.length).toBeGreaterThan(0);
    expect(frames.every(([stream]) => stream === 1)).toBe(true);
    expect((await api('GET', `/exec/${id}/json`)).json['ExitCode']).toBe(126);
  });
});
