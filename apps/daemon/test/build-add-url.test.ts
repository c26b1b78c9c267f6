import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from './support/daemon.js';
import { docker, dockerOk } from './support/docker-cli.js';
import { writeBuildContext } from '@berth/fixtures';

const run = promisify(execFile);

/** A deterministic body of `size` bytes, made as it is sent (the server holds none of it). */
function sendBig(res: ServerResponse, size: number): void {
  res.setHeader('Content-Length', String(size));
  let sent = 0;
  let block = 0;
  const more = (): void => {
    while (sent < size) {
      const chunk = createHash('sha512').update(String(block++)).digest();
      const part = Buffer.concat(Array.from({ length: 1024 }, () => chunk)).subarray(0, Math.min(65536, size - sent));
      sent += part.length;
      if (!res.write(part)) return void res.once('drain', more);
    }
    res.end();
  };
  more();
}

// ADD <url> through the docker CLI's classic path against berthd, the URLs on a loopback
// server this file starts. Where dockerd 20.10's legacy builder has the feature, the
// expectations are its answers to the same Dockerfiles (asked while writing this test):
// mode 0600, owner 0:0 (or --chown's), Last-Modified as the time (else 1970), the name from
// the URL (not the redirect target), archives not unpacked, its error texts. --checksum is
// BuildKit's, with BuildKit's words.
describe('ADD <url> through docker build against berthd', { timeout: 180_000 }, () => {
  let t: TestDaemon;
  let env: NodeJS.ProcessEnv;
  let work: string;
  let server: Server;
  let base: string;
  const hits = new Map<string, number>();
  let counted = 'first version\n';
  const suffix = Math.random().toString(16).slice(2, 8);
  const BIG = 48 * 1024 * 1024;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-addurl-'));
    // a gzip tar, served as is: ADD must keep it packed
    await mkdir(join(work, 'tar-src'));
    await writeFile(join(work, 'tar-src/inner.txt'), 'inner\n');
    await run('tar', ['czf', join(work, 'a.tar.gz'), '-C', join(work, 'tar-src'), 'inner.txt']);
    const archive = await readFile(join(work, 'a.tar.gz'));
    server = createServer((req, res) => {
      const path = req.url ?? '/';
      hits.set(path, (hits.get(path) ?? 0) + 1);
      if (path === '/hello.txt') {
        res.setHeader('Last-Modified', 'Wed, 21 Oct 2015 07:28:00 GMT');
        res.end('hello remote\n');
      } else if (path === '/nolm.txt') res.end('no last modified\n');
      else if (path === '/a.tar.gz') res.end(archive);
      else if (path === '/dir/') res.end('dir body\n');
      else if (path === '/counted.txt') res.end(counted);
      else if (path === '/redir') {
        res.statusCode = 301;
        res.setHeader('Location', '/hello.txt');
        res.end();
      } else if (path.startsWith('/loop')) {
        res.statusCode = 302;
        res.setHeader('Location', `/loop${Number(path.slice(5)) + 1}`);
        res.end();
      } else if (path === '/big.bin') sendBig(res, BIG);
      else if (path === '/hang') {
        // never answers: the daemon's fetch timeout must end the step
      } else if (path === '/trickle') {
        res.setHeader('Content-Length', '100');
        res.write('only a part');
      } else {
        res.statusCode = 404;
        res.end('not here\n');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    t = await startTestDaemon({ config: { 'build-fetch-timeout': 2 } });
    env = { ...t.dockerEnv, DOCKER_BUILDKIT: '0' };
    await t.daemon.engine.images.ensureBuiltin('busybox');
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    if (work) await rm(work, { recursive: true, force: true });
  });

  const context = (name: string, files: Record<string, string>): Promise<string> => writeBuildContext(work, name, files);

  async function build(dir: string, tag: string, args: string[] = []): Promise<string> {
    const r = await docker(env, ['build', '-t', tag, ...args, dir], { timeoutMs: 120_000 });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    return r.stdout;
  }

  const inside = (tag: string, script: string): Promise<string> => dockerOk(env, ['run', '--rm', tag, 'sh', '-c', script]);

  it("names, modes, owners and times as dockerd's builder gives them; an archive stays packed; --chmod applies", async () => {
    const dir = await context('basic', {
      Dockerfile: [
        'FROM busybox',
        `ADD ${base}/hello.txt /`,
        `ADD ${base}/nolm.txt /x/`,
        `ADD ${base}/hello.txt /named`,
        `ADD ${base}/a.tar.gz /arch/`,
        `ADD --chown=1:2 ${base}/hello.txt /own`,
        `ADD ${base}/redir /etc`,
        `ADD --chmod=644 ${base}/hello.txt local.txt /multi/`,
        // BuildKit's: a file destination names a URL whose path gives no name
        `ADD ${base}/dir/ /from-dir`,
        '',
      ].join('\n'),
      'local.txt': 'local\n',
    });
    const tag = `addurl-basic-${suffix}`;
    await build(dir, tag);
    const size = (await readFile(join(work, 'a.tar.gz'))).length;
    const lines = (await inside(tag, "stat -c '%n %a %u:%g %Y %s' /hello.txt /x/nolm.txt /named /arch/a.tar.gz /own /etc/redir /multi/hello.txt /multi/local.txt; cat /named /from-dir; ls /arch")).split('\n');
    // dockerd 20.10 printed these first six lines for the same ADDs
    expect(lines.slice(0, 6)).toEqual([
      '/hello.txt 600 0:0 1445412480 13',
      '/x/nolm.txt 600 0:0 0 17',
      '/named 600 0:0 1445412480 13',
      `/arch/a.tar.gz 600 0:0 0 ${size}`,
      '/own 600 1:2 1445412480 13',
      '/etc/redir 600 0:0 1445412480 13',
    ]);
    expect(lines[6]).toBe('/multi/hello.txt 644 0:0 1445412480 13');
    expect(lines[7]).toMatch(/^\/multi\/local\.txt 644 0:0 \d+ 6$/);
    expect(lines.slice(8)).toEqual(['hello remote', 'dir body', 'a.tar.gz', '']);
    // as dockerd's: the redirect was followed, the history names the content hash
    expect(hits.get('/redir')).toBe(1);
    expect(await dockerOk(env, ['history', '--no-trunc', '--format', '{{.CreatedBy}}', tag])).toMatch(/ADD [0-9a-f]{64} in \/etc \n/);
  });

  it('fails clearly, naming the URL: a 404 (dockerd\'s text), endless redirects, a server that stops answering, no file name', async () => {
    const fail = async (name: string, line: string): Promise<string> => {
      const dir = await context(name, { Dockerfile: `FROM busybox\n${line}\n` });
      const r = await docker(env, ['build', '--no-cache', dir], { timeoutMs: 60_000 });
      expect(r.code, r.stdout).toBe(1);
      return r.stderr;
    };
    // dockerd: "ADD failed: failed to GET http://127.0.0.1:38471/missing with status 404 Not Found: not here"
    expect(await fail('e404', `ADD ${base}/missing /tmp/`)).toContain(`ADD failed: failed to GET ${base}/missing with status 404 Not Found: not here`);
    // dockerd: 'ADD failed: Get "/loop10": stopped after 10 redirects' (Go names the refused request)
    expect(await fail('eloop', `ADD ${base}/loop0 /tmp/`)).toContain(`ADD failed: Get "${base}/loop10": stopped after 10 redirects`);
    expect(hits.get('/loop9')).toBe(1);
    expect(hits.get('/loop10')).toBeUndefined();
    // dockerd waits forever here; berthd gives up after its build-fetch-timeout (2 s in this daemon)
    expect(await fail('ehang', `ADD ${base}/hang /tmp/`)).toContain(`ADD failed: Get "${base}/hang": timed out after 2s waiting for a response`);
    expect(await fail('etrickle', `ADD ${base}/trickle /tmp/`)).toContain(`ADD failed: Get "${base}/trickle": timed out after 2s waiting for the rest of the body`);
    expect(await fail('erefused', 'ADD http://127.0.0.1:1/x /tmp/')).toMatch(/ADD failed: Get "http:\/\/127\.0\.0\.1:1\/x": connect ECONNREFUSED/);
    // dockerd: "ADD failed: cannot determine filename for source http://127.0.0.1:38471/dir/"
    expect(await fail('ename', `ADD ${base}/dir/ /tmp/`)).toContain(`ADD failed: cannot determine filename for source ${base}/dir/`);
    expect(await fail('ecopy', `COPY ${base}/hello.txt /tmp/`)).toContain("source can't be a URL for COPY");
  });

  it('is fetched again at every build, the cache keyed by the content (as dockerd\'s builder)', async () => {
    const dir = await context('cache', { Dockerfile: `FROM busybox\nADD ${base}/counted.txt /c.txt\nRUN cat /c.txt > /copy\n` });
    const tag = `addurl-cache-${suffix}`;
    counted = 'first version\n';
    hits.delete('/counted.txt');
    await build(dir, tag);
    const again = await build(dir, tag);
    expect(hits.get('/counted.txt')).toBe(2);
    expect(again.match(/Using cache/g)?.length).toBe(2);
    counted = 'second version\n';
    const changed = await build(dir, tag);
    expect(changed).not.toContain('Using cache');
    expect(await inside(tag, 'cat /copy')).toBe('second version\n');
  });

  it('--checksum (BuildKit\'s): a matching download is added, another fails with BuildKit\'s words', async () => {
    const sum = createHash('sha256').update('hello remote\n').digest('hex');
    const ok = await context('sum-ok', { Dockerfile: `FROM busybox\nADD --checksum=sha256:${sum} ${base}/hello.txt /h\n` });
    await build(ok, `addurl-sum-${suffix}`);
    expect(await inside(`addurl-sum-${suffix}`, 'cat /h')).toBe('hello remote\n');
    const wrong = 'a'.repeat(64);
    const bad = await context('sum-bad', { Dockerfile: `FROM busybox\nADD --checksum=sha256:${wrong} ${base}/hello.txt /h\n` });
    const r = await docker(env, ['build', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`digest mismatch sha256:${sum}: sha256:${wrong}`);
    expect(r.stderr).toContain(`${base}/hello.txt`);
  });

  it(`streams a ${BIG >> 20} MB download to the layer (its bytes intact)`, async () => {
    const dir = await context('big', { Dockerfile: `FROM busybox\nADD ${base}/big.bin /big.bin\n` });
    const tag = `addurl-big-${suffix}`;
    await build(dir, tag);
    const want = createHash('sha256');
    await new Promise<void>((resolve, reject) => {
      const sink = { setHeader: () => undefined, write: (b: Buffer) => (want.update(b), true), end: () => resolve(), once: () => undefined };
      try {
        sendBig(sink as unknown as ServerResponse, BIG);
      } catch (err) {
        reject(err as Error);
      }
    });
    expect(await inside(tag, 'sha256sum /big.bin | cut -c1-64; stat -c %s /big.bin')).toBe(`${want.digest('hex')}\n${BIG}\n`);
  });
});
