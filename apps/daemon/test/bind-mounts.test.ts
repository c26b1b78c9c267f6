import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import tar from 'tar-stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDaemon } from './support/fixture.js';
import { docker as cli, dockerOk, type CliResult } from './support/docker-cli.js';
import { request } from './support/http.js';

// Bind mounts as users write them in their first hour (issue 11), through the real docker
// CLI: single files, read-only files, missing sources with -v and with --mount, a file
// where the image has a directory, docker cp and inspect. Answers checked against dockerd 20.10.
describe('bind mounts through berthd', () => {
  const t = useTestDaemon({ busybox: 'builtin', daemon: { logLevel: 'fatal' } });
  let host: string;
  let file: string;
  const suffix = Math.random().toString(16).slice(2, 8);
  const name = (n: string): string => `bind-${n}-${suffix}`;
  const docker = (args: string[]): Promise<CliResult> => cli(t.dockerEnv, args);
  const ok = (args: string[]): Promise<string> => dockerOk(t.dockerEnv, args);
  const HINT = 'Are you trying to mount a directory onto a file (or vice-versa)?';

  beforeAll(async () => {
    host = join(t.dir, 'host');
    await mkdir(host);
    file = join(host, 'file.conf');
    await writeFile(file, 'from the host\n');
  });

  it('binds a single file with -v and with --mount', async () => {
    expect(await ok(['run', '--rm', '--network', 'none', '-v', `${file}:/etc/app.conf`, 'busybox', 'cat', '/etc/app.conf'])).toBe('from the host\n');
    expect(await ok(['run', '--rm', '--network', 'none', '--mount', `type=bind,src=${file},dst=/etc/app.conf`, 'busybox', 'cat', '/etc/app.conf'])).toBe('from the host\n');
    // written from inside, it is the host's file that changes
    await ok(['run', '--rm', '--network', 'none', '-v', `${file}:/etc/app.conf`, 'busybox', 'sh', '-c', 'echo more >> /etc/app.conf']);
    expect(await readFile(file, 'utf8')).toBe('from the host\nmore\n');
    await writeFile(file, 'from the host\n');
    expect((await stat(file)).isFile()).toBe(true);
  });

  it('binds a file read-only, and below directories the image does not have', async () => {
    const r = await docker(['run', '--rm', '--network', 'none', '-v', `${file}:/etc/app.conf:ro`, '-v', `${file}:/a/b/c/app.conf`, 'busybox', 'sh', '-c', 'cat /a/b/c/app.conf; echo x > /etc/app.conf']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('from the host\n');
    expect(r.stderr).toContain("can't create /etc/app.conf: Read-only file system");
    expect(await readFile(file, 'utf8')).toBe('from the host\n');
  });

  it('-v makes a missing source a directory when the container starts; --mount refuses it with 400', async () => {
    const missing = join(host, 'made', 'by', 'start');
    await ok(['create', '--name', name('mk'), '--network', 'none', '-v', `${missing}:/data`, 'busybox', 'true']);
    await expect(stat(missing)).rejects.toThrow();
    await ok(['start', '-a', name('mk')]);
    expect((await stat(missing)).isDirectory()).toBe(true);

    const absent = join(host, 'absent');
    const r = await docker(['run', '--rm', '--network', 'none', '--mount', `type=bind,src=${absent},dst=/data`, 'busybox', 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain(`Error response from daemon: invalid mount config for type "bind": bind source path does not exist: ${absent}`);
    await expect(stat(absent)).rejects.toThrow();
    const api = await request(t.socketPath, 'POST', `/v1.41/containers/create?name=${name('api')}`, {
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ Image: 'busybox', HostConfig: { Mounts: [{ Type: 'bind', Source: absent, Target: '/data' }] } }),
    });
    expect(api.status).toBe(400);
    expect(JSON.parse(api.body)).toEqual({ message: `invalid mount config for type "bind": bind source path does not exist: ${absent}` });

    // a --mount source removed after create: refused at start, as dockerd does
    const gone = join(host, 'gone.conf');
    await writeFile(gone, 'x');
    await ok(['create', '--name', name('gone'), '--network', 'none', '--mount', `type=bind,src=${gone},dst=/x`, 'busybox', 'true']);
    await rm(gone);
    const s = await docker(['start', name('gone')]);
    expect(s.code).not.toBe(0);
    expect(s.stderr).toContain(`bind source path does not exist: ${gone}`);
    await expect(stat(gone)).rejects.toThrow();
  });

  it('refuses a file onto a directory of the image and a directory onto a file, with a clear 400', async () => {
    const onto = await docker(['run', '--rm', '--network', 'none', '-v', `${file}:/etc`, 'busybox', 'true']);
    // 125 as with dockerd (the CLI gives 126 and 127 to some runtime failures)
    expect(onto.code).toBe(125);
    expect(onto.stderr).toContain(`cannot mount file "${file}" onto directory "/etc"`);
    expect(onto.stderr).toContain(HINT);
    const dirOnto = await docker(['run', '--rm', '--network', 'none', '-v', `${host}:/etc/passwd`, 'busybox', 'true']);
    expect(dirOnto.code).toBe(125);
    expect(dirOnto.stderr).toContain(`cannot mount directory "${host}" onto file "/etc/passwd"`);
    await ok(['create', '--name', name('kind'), '--network', 'none', '-v', `${file}:/etc`, 'busybox', 'true']);
    const start = await request(t.socketPath, 'POST', `/v1.41/containers/${name('kind')}/start`);
    expect(start.status).toBe(400);
    expect(JSON.parse(start.body).message).toContain(HINT);
    // the failed start leaves the container as it was: created, and removable
    expect((await ok(['inspect', '-f', '{{.State.Status}}', name('kind')])).trim()).toBe('created');
    await ok(['rm', name('kind')]);
  });

  it('inspect shows the file bind; docker cp reads it and does not replace it', async () => {
    const c = name('cp');
    await ok(['create', '--name', c, '--network', 'none', '-v', `${file}:/etc/app.conf:ro`, 'busybox', 'sleep', '300']);
    const mounts = JSON.parse(await ok(['inspect', '-f', '{{json .Mounts}}', c])) as unknown;
    expect(mounts).toEqual([{ Type: 'bind', Source: file, Destination: '/etc/app.conf', Mode: 'ro', RW: false, Propagation: 'rprivate' }]);
    expect(JSON.parse(await ok(['inspect', '-f', '{{json .HostConfig.Binds}}', c]))).toEqual([`${file}:/etc/app.conf:ro`]);
    const replacement = await tarOf('app.conf', 'replaced\n');
    for (const state of ['stopped', 'running']) {
      if (state === 'running') await ok(['start', c]);
      expect(await ok(['cp', `${c}:/etc/app.conf`, '-'])).toContain('from the host\n');
      // dockerd: 500 `Error processing tar file(exit status 1): unlinkat /etc/app.conf: device or resource busy`
      const put = await request(t.socketPath, 'PUT', `/v1.41/containers/${c}/archive?path=/etc`, { headers: { 'Content-Type': 'application/x-tar' }, body: replacement });
      expect(put.status).toBe(500);
      expect(JSON.parse(put.body).message).toBe('Error processing tar file(exit status 1): unlinkat /etc/app.conf: device or resource busy');
      expect(await readFile(file, 'utf8')).toBe('from the host\n');
    }
    // the container still sees the bind (a replaced mount point would have dropped it)
    expect(await ok(['exec', c, 'cat', '/etc/app.conf'])).toBe('from the host\n');
    // same for the files the runtime binds into every container
    const hosts = await request(t.socketPath, 'PUT', `/v1.41/containers/${c}/archive?path=/etc`, { headers: { 'Content-Type': 'application/x-tar' }, body: await tarOf('hosts', 'replaced\n') });
    expect(hosts.status).toBe(500);
    expect(await ok(['exec', c, 'cat', '/etc/hosts'])).toContain('localhost');
    await ok(['rm', '-f', c]);
  });
});

/** A one-file tar, as a latin1 string (request() sends a string body). */
async function tarOf(name: string, content: string): Promise<string> {
  const pack = tar.pack();
  pack.entry({ name, mode: 0o644 }, content);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('latin1');
}
