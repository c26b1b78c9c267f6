import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDaemon } from './support/fixture.js';
import { docker, dockerOk } from './support/docker-cli.js';

interface ByteResult {
  code: number;
  stdout: Buffer;
  stderr: Buffer;
}

/** The docker CLI with its output kept as bytes (the shared helper decodes UTF-8). */
function dockerBytes(env: NodeJS.ProcessEnv, args: string[], timeoutMs = 60_000): Promise<ByteResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr: Buffer.concat(err) });
    });
  });
}

/** Streams a huge output through: counts lines, keeps the last few, never holds it all. */
function dockerLines(env: NodeJS.ProcessEnv, args: string[], onTick?: () => void): Promise<{ code: number; lines: number; bytes: number; last: string[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let lines = 0;
    let bytes = 0;
    let carry = '';
    const last: string[] = [];
    let stderr = '';
    const tick = onTick ? setInterval(onTick, 20) : undefined;
    child.stdout.setEncoding('latin1');
    child.stdout.on('data', (c: string) => {
      bytes += c.length;
      const parts = (carry + c).split('\n');
      carry = parts.pop()!;
      lines += parts.length;
      last.push(...parts.slice(-5));
      last.splice(0, Math.max(0, last.length - 5));
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (tick) clearInterval(tick);
      resolve({ code: code ?? -1, lines, bytes, last, stderr });
    });
  });
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** This process' resident set (berthd runs in the test process), in MiB. */
function rssMiB(): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

// Container output through the docker 28 CLI against berthd: bytes as written (binary,
// a last line without newline), huge logs in bounded memory, --tail from the end, and
// the json-file log driver docker clients expect.
describe('docker logs and attach output', () => {
  const t = useTestDaemon({ busybox: 'builtin' });
  let env: NodeJS.ProcessEnv;
  let busyboxSha: string;
  const suffix = Math.random().toString(16).slice(2, 8);
  const name = (n: string): string => `logs-${n}-${suffix}`;
  const waitExit = async (n: string): Promise<void> => {
    await dockerOk(env, ['wait', n]);
  };

  beforeAll(async () => {
    env = t.dockerEnv;
    busyboxSha = (await dockerOk(env, ['run', '--rm', '--network', 'none', 'busybox', 'sha256sum', '/bin/busybox'])).split(' ')[0]!;
    expect(busyboxSha).toMatch(/^[0-9a-f]{64}$/);
  });

  it('docker run without -t passes a binary through stdout and stderr unchanged', async () => {
    const out = await dockerBytes(env, ['run', '--rm', '--network', 'none', 'busybox', 'cat', '/bin/busybox']);
    expect(out.code).toBe(0);
    expect(out.stdout.length).toBeGreaterThan(100_000);
    expect(sha256(out.stdout)).toBe(busyboxSha);
    const err = await dockerBytes(env, ['run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', 'cat /bin/busybox >&2']);
    expect(err.code).toBe(0);
    expect(err.stdout.length).toBe(0);
    expect(sha256(err.stderr)).toBe(busyboxSha);
  });

  it('docker logs gives the binary back afterwards, on the stream it was written to', async () => {
    await dockerOk(env, ['run', '-d', '--network', 'none', '--name', name('bin'), 'busybox', 'sh', '-c', 'cat /bin/busybox; cat /bin/busybox >&2']);
    await waitExit(name('bin'));
    const logs = await dockerBytes(env, ['logs', name('bin')]);
    expect(logs.code).toBe(0);
    expect(sha256(logs.stdout)).toBe(busyboxSha);
    expect(sha256(logs.stderr)).toBe(busyboxSha);
  });

  it('docker attach to a running container gives its binary output unchanged', async () => {
    await dockerOk(env, ['run', '-d', '--network', 'none', '--name', name('att'), 'busybox', 'sh', '-c', 'sleep 2; cat /bin/busybox']);
    const att = await dockerBytes(env, ['attach', name('att')]);
    expect(att.code).toBe(0);
    expect(sha256(att.stdout)).toBe(busyboxSha);
  });

  it('a last line without a newline comes back exactly as written from run, logs and attach', async () => {
    expect(await docker(env, ['run', '--rm', '--network', 'none', 'busybox', 'printf', 'abc'])).toEqual({ code: 0, stdout: 'abc', stderr: '' });
    await dockerOk(env, ['run', '-d', '--network', 'none', '--name', name('abc'), 'busybox', 'printf', 'abc']);
    await waitExit(name('abc'));
    expect(await docker(env, ['logs', name('abc')])).toEqual({ code: 0, stdout: 'abc', stderr: '' });
    await dockerOk(env, ['run', '-d', '--network', 'none', '--name', name('abc2'), 'busybox', 'sh', '-c', 'sleep 2; printf "x\\nab"; sleep 0.3; printf c'] );
    expect(await docker(env, ['attach', name('abc2')])).toEqual({ code: 0, stdout: 'x\nabc', stderr: '' });
    expect(await docker(env, ['logs', name('abc2')])).toEqual({ code: 0, stdout: 'x\nabc', stderr: '' });
  });

  it('300,000 lines (~100 MB): docker logs gives all of them in bounded memory, --tail 5 the last 5', async () => {
    const pad = 'x'.repeat(300);
    await dockerOk(env, ['run', '-d', '--network', 'none', '--name', name('big'), 'busybox', 'awk', `BEGIN { for (i = 1; i <= 300000; i++) printf "line %d ${pad}\\n", i }`]);
    await waitExit(name('big'));
    if (global.gc) global.gc();
    const idle = rssMiB();
    let peak = idle;
    const started = Date.now();
    const all = await dockerLines(env, ['logs', name('big')], () => (peak = Math.max(peak, rssMiB())));
    const took = Date.now() - started;
    expect(all.code).toBe(0);
    expect(all.stderr).toBe('');
    expect(all.lines).toBe(300_000);
    expect(all.last.at(-1)).toBe(`line 300000 ${pad}`);
    expect(all.bytes).toBeGreaterThan(90_000_000);
    const tailStarted = Date.now();
    const tail = await dockerLines(env, ['logs', '--tail', '5', name('big')], () => (peak = Math.max(peak, rssMiB())));
    const tailTook = Date.now() - tailStarted;
    expect(tail.lines).toBe(5);
    expect(tail.last).toEqual([299996, 299997, 299998, 299999, 300000].map((i) => `line ${i} ${pad}`));
    console.log(`berthd RSS idle ${idle.toFixed(1)} MiB, peak during logs of ${(all.bytes / 1e6).toFixed(0)} MB: ${peak.toFixed(1)} MiB (+${(peak - idle).toFixed(1)}); logs ${took} ms, --tail 5 ${tailTook} ms`);
    // the log is ~100 MB: memory must not follow it
    expect(peak - idle).toBeLessThan(40);
    expect(tailTook).toBeLessThan(3_000);
  });

  it('--timestamps, --since/--until and stream selection', async () => {
    await dockerOk(env, ['run', '-d', '--network', 'none', '--name', name('ts'), 'busybox', 'sh', '-c', 'echo early; echo err >&2; sleep 1.5; echo late']);
    await waitExit(name('ts'));
    const ts = await docker(env, ['logs', '--timestamps', name('ts')]);
    const lines = ts.stdout.split('\n').filter(Boolean);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z early$/);
    const lateAt = Date.parse(lines[1]!.split(' ')[0]!) / 1000;
    expect((await docker(env, ['logs', '--since', String(lateAt - 0.5), name('ts')])).stdout).toBe('late\n');
    expect(await docker(env, ['logs', '--until', String(lateAt - 0.5), name('ts')])).toEqual({ code: 0, stdout: 'early\n', stderr: 'err\n' });
    const res = await fetchLogs(t.socketPath, name('ts'), 'stderr=1');
    // multiplexed: one stderr frame holding "err\n"
    expect([...res.subarray(0, 8)]).toEqual([2, 0, 0, 0, 0, 0, 0, 4]);
    expect(res.subarray(8).toString()).toBe('err\n');
  });

  it('reports json-file as the log driver; --log-opt limits rotate; --log-driver none refuses reading as Docker', async () => {
    expect((await dockerOk(env, ['info', '--format', '{{.LoggingDriver}}'])).trim()).toBe('json-file');
    await dockerOk(env, ['create', '--name', name('lc'), 'busybox', 'true']);
    expect(JSON.parse(await dockerOk(env, ['inspect', '-f', '{{json .HostConfig.LogConfig}}', name('lc')]))).toEqual({ Type: 'json-file', Config: {} });
    await dockerOk(env, ['create', '--name', name('lc2'), '--log-driver', 'json-file', '--log-opt', 'max-size=1m', 'busybox', 'true']);
    expect(JSON.parse(await dockerOk(env, ['inspect', '-f', '{{json .HostConfig.LogConfig}}', name('lc2')]))).toEqual({ Type: 'json-file', Config: { 'max-size': '1m' } });

    const bogus = await docker(env, ['create', '--log-driver', 'bogus', 'busybox', 'true']);
    expect(bogus.code).not.toBe(0);
    expect(bogus.stderr).toContain('error looking up logging plugin bogus: plugin "bogus" not found');

    // attach still works with none (Docker's too); reading the log does not
    expect(await docker(env, ['run', '--name', name('none'), '--network', 'none', '--log-driver', 'none', 'busybox', 'printf', 'abc'])).toEqual({ code: 0, stdout: 'abc', stderr: '' });
    const none = await docker(env, ['logs', name('none')]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('configured logging driver does not support reading');

    // max-size 8k, max-file 2: old lines go, what is kept is unbroken and ends with the last
    await dockerOk(env, ['run', '-d', '--network', 'none', '--name', name('rot'), '--log-opt', 'max-size=8k', '--log-opt', 'max-file=2', 'busybox', 'sh', '-c',
      'i=0; while [ $i -lt 600 ]; do echo "line $i padding padding padding"; i=$((i+1)); [ $((i % 60)) = 0 ] && sleep 0.5; done']);
    await waitExit(name('rot'));
    const kept = (await dockerOk(env, ['logs', name('rot')])).split('\n').filter(Boolean).map((l) => Number(l.split(' ')[1]));
    expect(kept.at(-1)).toBe(599);
    expect(kept.length).toBeLessThan(600);
    expect(kept).toEqual(kept.map((_, i) => kept[0]! + i));
  });

  it('docker logs -f follows a running container and ends when it exits', async () => {
    await dockerOk(env, ['run', '-d', '--network', 'none', '--name', name('fol'), 'busybox', 'sh', '-c', 'echo one; sleep 1; printf two; sleep 0.5; echo " three"; echo bye >&2']);
    const f = await docker(env, ['logs', '-f', name('fol')], { timeoutMs: 20_000 });
    expect(f).toEqual({ code: 0, stdout: 'one\ntwo three\n', stderr: 'bye\n' });
    const tf = await docker(env, ['logs', '-f', '--tail', '1', name('fol')], { timeoutMs: 20_000 });
    expect(tf.stdout + tf.stderr).toBe('bye\n');
  });

  it('keeps earlier runs\' output across restarts', async () => {
    await dockerOk(env, ['run', '--name', name('again'), '--network', 'none', 'busybox', 'echo', 'run']);
    await dockerOk(env, ['start', '-a', name('again')]);
    await dockerOk(env, ['start', '-a', name('again')]);
    expect(await dockerOk(env, ['logs', name('again')])).toBe('run\nrun\nrun\n');
    expect(await dockerOk(env, ['logs', '--tail', '2', name('again')])).toBe('run\nrun\n');
  });
});

/** GET /containers/{name}/logs with the given query, raw body bytes. */
async function fetchLogs(socketPath: string, container: string, query: string): Promise<Buffer> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: `/v1.43/containers/${container}/logs?${query}`, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
