import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from './support/daemon.js';
import { berthRunner, buildCli, removeCli } from './support/cli.js';
import { writeBuildContext } from '@berth/fixtures';

// `berth build` with ADD <url> (fetched by berthd) and BuildKit's --checksum, against a
// loopback server this file starts.
describe('berth build: ADD <url> and ADD --checksum', { timeout: 180_000 }, () => {
  let t: TestDaemon;
  let bin: string;
  let work: string;
  let server: Server;
  let base: string;
  let berth: ReturnType<typeof berthRunner>['berth'];
  let berthOk: ReturnType<typeof berthRunner>['berthOk'];
  const suffix = Math.random().toString(16).slice(2, 8);
  const body = 'tool v1.2\n';
  const sum = createHash('sha256').update(body).digest('hex');

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/tool-1.2.txt') res.end(body);
      else {
        res.statusCode = 404;
        res.end('no such file\n');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    [bin, t, work] = await Promise.all([buildCli(), startTestDaemon(), mkdtemp(join(tmpdir(), 'berth-cli-addurl-'))]);
    await t.daemon.engine.images.ensureBuiltin('busybox');
    ({ berth, berthOk } = berthRunner(bin, t.berthEnv));
  }, 180_000);
  afterAll(async () => {
    if (t) {
      const ids = (await berth(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) await berth(['rm', '-f', ...ids]);
      await t.stop();
    }
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    if (work) await rm(work, { recursive: true, force: true });
    await removeCli(bin);
  });

  it('adds a pinned download with --chown and --chmod; a wrong pin and a 404 fail, naming the URL', async () => {
    const ok = await writeBuildContext(work, 'ok', {
      Dockerfile: ['# syntax=docker/dockerfile:1', 'FROM busybox', `ADD --checksum=sha256:${sum} --chown=5:6 --chmod=750 ${base}/tool-1.2.txt /opt/`, ''].join('\n'),
    });
    const tag = `addurl-${suffix}`;
    const b = await berth(['build', '--progress', 'plain', '-t', tag, ok], { timeoutMs: 120_000 });
    expect(b.code, b.stdout + b.stderr).toBe(0);
    expect(await berthOk(['run', '--rm', tag, 'sh', '-c', "stat -c '%a %u:%g' /opt/tool-1.2.txt; cat /opt/tool-1.2.txt"])).toBe(`750 5:6\n${body}`);

    const wrong = await writeBuildContext(work, 'wrong', { Dockerfile: `FROM busybox\nADD --checksum=sha256:${'0'.repeat(64)} ${base}/tool-1.2.txt /opt/\n` });
    const w = await berth(['build', wrong], { timeoutMs: 60_000 });
    expect(w.code).not.toBe(0);
    expect(w.stderr).toContain(`${base}/tool-1.2.txt: digest mismatch sha256:${sum}: sha256:${'0'.repeat(64)}`);

    const missing = await writeBuildContext(work, 'missing', { Dockerfile: `FROM busybox\nADD ${base}/gone.txt /opt/\n` });
    const m = await berth(['build', missing], { timeoutMs: 60_000 });
    expect(m.code).not.toBe(0);
    expect(m.stderr).toContain(`ADD failed: failed to GET ${base}/gone.txt with status 404 Not Found: no such file`);
  });
});
