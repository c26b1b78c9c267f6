import { beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { mkdir, readFile, readlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { useTestDaemon } from './support/fixture.js';
import { makeHtpasswd, startRegistry } from '@berth/fixtures';
import { docker, dockerOk } from './support/docker-cli.js';
import { request, type RawResponse } from './support/http.js';
import net from 'node:net';

const dockerTmux = (env: NodeJS.ProcessEnv, args: string[]): Promise<unknown> => promisify(execFile)('tmux', ['-L', `berth-test-${process.pid}`, ...args], { env, timeout: 10_000 });

// The real docker CLI (28.2) against berthd over the real engine: every command of the
// issue's proof list is one test. They share one daemon and registry and run in order.
describe('docker CLI against berthd', () => {
  const t = useTestDaemon({ registry: true });
  let image: string;
  let env: NodeJS.ProcessEnv;
  const suffix = Math.random().toString(16).slice(2, 8);
  const name = (n: string): string => `${n}-${suffix}`;

  beforeAll(() => {
    image = t.reg.busybox;
    env = t.dockerEnv;
  });

  it('docker pull from the local registry', async () => {
    const r = await docker(env, ['pull', image], { timeoutMs: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Status: Downloaded newer image for ${image}`);
    expect(r.stdout).toMatch(/Digest: sha256:[0-9a-f]{64}/);
  });

  it('docker images lists it', async () => {
    const out = await dockerOk(env, ['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']);
    expect(out).toMatch(new RegExp(`^${image.replace(/[.]/g, '\\.')} [0-9a-f]{12}$`, 'm'));
  });

  it('docker run --rm prints the output and returns the exit code', async () => {
    // printed and exited at once: the attach must be connected before the process starts
    const ok = await docker(env, ['run', '--rm', image, 'echo', 'hello world']);
    expect(ok).toEqual({ code: 0, stdout: 'hello world\n', stderr: '' });
    const fail = await docker(env, ['run', '--rm', image, 'sh', '-c', 'echo oops >&2; exit 3']);
    expect(fail.code).toBe(3);
    expect(fail.stderr).toBe('oops\n');
    // --rm removed them
    expect((await dockerOk(env, ['ps', '-aq'])).trim()).toBe('');
  });

  it('docker run -i passes piped stdin', async () => {
    const r = await docker(env, ['run', '--rm', '-i', image, 'sh', '-c', 'tr a-z A-Z; echo done'], { input: 'piped text\n' });
    expect(r).toEqual({ code: 0, stdout: 'PIPED TEXT\ndone\n', stderr: '' });
  });

  it('docker run -d and docker ps', async () => {
    const id = (await dockerOk(env, ['run', '-d', '--name', name('web'), image, 'sleep', '300'])).trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const ps = await dockerOk(env, ['ps', '--format', '{{.ID}} {{.Names}} {{.Image}} {{.Status}}']);
    expect(ps).toContain(`${id.slice(0, 12)} ${name('web')} ${image} Up`);
  });

  it('docker inspect', async () => {
    const out = JSON.parse(await dockerOk(env, ['inspect', name('web')]));
    expect(out).toHaveLength(1);
    expect(out[0].Name).toBe(`/${name('web')}`);
    expect(out[0].State.Running).toBe(true);
    expect(out[0].State.Pid).toBeGreaterThan(0);
    expect(out[0].Config.Cmd).toEqual(['sleep', '300']);
    expect(out[0].Config.Image).toBe(image);
    expect((await dockerOk(env, ['inspect', '-f', '{{.State.Status}}', name('web')])).trim()).toBe('running');
    const img = JSON.parse(await dockerOk(env, ['image', 'inspect', image]));
    expect(img[0].Id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(img[0].RepoTags).toContain(image);
  });

  it('docker exec', async () => {
    expect(await docker(env, ['exec', name('web'), 'echo', 'from exec'])).toEqual({ code: 0, stdout: 'from exec\n', stderr: '' });
    expect((await docker(env, ['exec', name('web'), 'sh', '-c', 'exit 5'])).code).toBe(5);
    expect((await docker(env, ['exec', '-i', name('web'), 'cat'], { input: 'exec stdin\n' })).stdout).toBe('exec stdin\n');
  });

  it('docker logs and logs -f', async () => {
    await dockerOk(env, ['run', '-d', '--name', name('talker'), image, 'sh', '-c', 'for i in 1 2 3; do echo line $i; sleep 0.3; done; echo bye >&2']);
    const follow = await docker(env, ['logs', '-f', name('talker')], { timeoutMs: 20_000 });
    expect(follow.code).toBe(0);
    expect(follow.stdout).toBe('line 1\nline 2\nline 3\n');
    expect(follow.stderr).toBe('bye\n');
    const tail = await docker(env, ['logs', '--tail', '1', name('talker')]);
    expect(tail.stdout + tail.stderr).toBe('bye\n');
  });

  it('docker stop', async () => {
    const started = Date.now();
    expect((await dockerOk(env, ['stop', '-t', '2', name('web')])).trim()).toBe(name('web'));
    expect(Date.now() - started).toBeLessThan(15_000);
    expect((await dockerOk(env, ['inspect', '-f', '{{.State.Status}} {{.State.Running}}', name('web')])).trim()).toBe('exited false');
  });

  it('docker kill', async () => {
    await dockerOk(env, ['run', '-d', '--name', name('victim'), image, 'sleep', '300']);
    expect((await dockerOk(env, ['kill', name('victim')])).trim()).toBe(name('victim'));
    expect((await dockerOk(env, ['inspect', '-f', '{{.State.ExitCode}}', name('victim')])).trim()).toBe('137');
    const again = await docker(env, ['kill', name('victim')]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('is not running');
  });

  it('docker rm', async () => {
    expect((await dockerOk(env, ['rm', name('web'), name('victim'), name('talker')])).trim().split('\n')).toEqual([name('web'), name('victim'), name('talker')]);
    const gone = await docker(env, ['inspect', name('web')]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain(`No such object: ${name('web')}`);
    await dockerOk(env, ['run', '-d', '--name', name('busy'), image, 'sleep', '300']);
    const refused = await docker(env, ['rm', name('busy')]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/cannot remove container|stop the container before removing|force/i);
    await dockerOk(env, ['rm', '-f', name('busy')]);
  });

  it('docker tag', async () => {
    const tagged = `${t.reg.registry.host}/copy-${suffix}:v1`;
    await dockerOk(env, ['tag', image, tagged]);
    const ids = (await dockerOk(env, ['images', '--format', '{{.ID}}', '--no-trunc', tagged])).trim();
    const orig = (await dockerOk(env, ['images', '--format', '{{.ID}}', '--no-trunc', image])).trim();
    expect(ids).toBe(orig);
  });

  it('docker push', async () => {
    const tagged = `${t.reg.registry.host}/copy-${suffix}:v1`;
    const r = await docker(env, ['push', tagged], { timeoutMs: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/v1: digest: sha256:[0-9a-f]{64} size: \d+/);
    // the registry has it
    const res = await fetch(`${t.reg.registry.url}/v2/copy-${suffix}/tags/list`);
    expect(await res.json()).toEqual({ name: `copy-${suffix}`, tags: ['v1'] });
  });

  it('docker rmi', async () => {
    const tagged = `${t.reg.registry.host}/copy-${suffix}:v1`;
    const out = await dockerOk(env, ['rmi', tagged]);
    expect(out).toContain(`Untagged: ${tagged}`);
    const missing = await docker(env, ['rmi', tagged]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`No such image: ${tagged}`);
  });

  it('docker save and docker load', async () => {
    const file = join(t.dir, 'busybox.tar');
    await dockerOk(env, ['save', '-o', file, image]);
    await dockerOk(env, ['tag', image, `saved-${suffix}:1`]);
    await dockerOk(env, ['rmi', image]);
    await dockerOk(env, ['rmi', `saved-${suffix}:1`]);
    expect((await dockerOk(env, ['images', '-q', image])).trim()).toBe('');
    const loaded = await dockerOk(env, ['load', '-i', file]);
    expect(loaded).toContain(`Loaded image: ${image}`);
    expect((await dockerOk(env, ['images', '-q', image])).trim()).toMatch(/^[0-9a-f]{12}$/);
  });

  it('docker commit', async () => {
    await dockerOk(env, ['run', '--name', name('maker'), image, 'sh', '-c', 'echo committed content > /made.txt']);
    const id = (await dockerOk(env, ['commit', '-c', 'ENV MADE=yes', name('maker'), `made-${suffix}:1`])).trim();
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    const r = await docker(env, ['run', '--rm', '-i', `made-${suffix}:1`, 'sh', '-c', 'cat >/dev/null; cat /made.txt; echo $MADE'], { input: '' });
    expect(r).toEqual({ code: 0, stdout: 'committed content\nyes\n', stderr: '' });
    await dockerOk(env, ['rm', name('maker')]);
  });

  it('docker volume create, ls, rm (and a volume in use)', async () => {
    const vol = name('vol');
    expect((await dockerOk(env, ['volume', 'create', vol])).trim()).toBe(vol);
    expect(await dockerOk(env, ['volume', 'ls', '--format', '{{.Driver}} {{.Name}}'])).toContain(`local ${vol}`);
    await dockerOk(env, ['run', '--rm', '-v', `${vol}:/data`, image, 'sh', '-c', 'echo kept > /data/f']);
    expect((await dockerOk(env, ['run', '--rm', '-i', '-v', `${vol}:/data`, image, 'sh', '-c', 'cat >/dev/null; cat /data/f'], { input: '' })).trim()).toBe('kept');
    expect((await dockerOk(env, ['volume', 'rm', vol])).trim()).toBe(vol);
    expect(await dockerOk(env, ['volume', 'ls', '-q'])).not.toContain(vol);
  });

  it("docker network inspect bridge: daemon.json's bip is the bridge address, as Docker reads it", async () => {
    const [gateway] = t.network.bip.split('/') as [string];
    const ipam = JSON.parse(await dockerOk(env, ['network', 'inspect', 'bridge', '--format', '{{json .IPAM.Config}}'])) as { Subnet: string; Gateway: string }[];
    expect(ipam).toEqual([{ Subnet: t.network.bip.replace(/\.1\/24$/, '.0/24'), Gateway: gateway }]);
    expect(await dockerOk(env, ['run', '--rm', image, 'sh', '-c', 'ip route | grep default'])).toContain(`via ${gateway}`);
  });

  it('docker network create, ls, rm', async () => {
    const net = name('net');
    const id = (await dockerOk(env, ['network', 'create', net])).trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(await dockerOk(env, ['network', 'ls', '--format', '{{.Name}} {{.Driver}}'])).toContain(`${net} bridge`);
    expect((await dockerOk(env, ['network', 'rm', net])).trim()).toBe(net);
    expect(await dockerOk(env, ['network', 'ls', '--format', '{{.Name}}'])).not.toContain(net);
  });

  it('bad input: unknown image, bad reference, name conflict', async () => {
    const unknown = await docker(env, ['run', '--rm', `${t.reg.registry.host}/nothere-${suffix}:latest`, 'true'], { timeoutMs: 60_000 });
    expect(unknown.code).toBe(125);
    expect(unknown.stderr).toContain(`Unable to find image '${t.reg.registry.host}/nothere-${suffix}:latest' locally`);
    expect(unknown.stderr).toMatch(/Error response from daemon: .*(not found|manifest unknown)/);
    const bad = await docker(env, ['run', '--rm', 'Bad_Reference!', 'true']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain('invalid reference format');
    await dockerOk(env, ['create', '--name', name('dup'), image, 'true']);
    const dup = await docker(env, ['create', '--name', name('dup'), image, 'true']);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain(`Conflict. The container name "/${name('dup')}" is already in use by container`);
    await dockerOk(env, ['rm', name('dup')]);
  });

  it('docker cp out of a container (file, directory, missing path)', async () => {
    await dockerOk(env, ['run', '--name', name('cpsrc'), image, 'sh', '-c', 'mkdir -p /data/sub && echo hi > /data/f && echo deep > /data/sub/g && ln -s f /data/l']);
    const out = join(t.dir, 'cp-out');
    await mkdir(out);
    await dockerOk(env, ['cp', `${name('cpsrc')}:/data/f`, join(out, 'f')]);
    expect(await readFile(join(out, 'f'), 'utf8')).toBe('hi\n');
    await dockerOk(env, ['cp', `${name('cpsrc')}:/data`, `${out}/`]);
    expect(await readFile(join(out, 'data', 'sub', 'g'), 'utf8')).toBe('deep\n');
    expect(await readlink(join(out, 'data', 'l'))).toBe('f');
    const missing = await docker(env, ['cp', `${name('cpsrc')}:/nope`, `${out}/`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`Could not find the file /nope in container ${name('cpsrc')}`);
    await dockerOk(env, ['rm', name('cpsrc')]);
  });

  it('docker diff and docker update', async () => {
    await dockerOk(env, ['run', '--name', name('differ'), image, 'sh', '-c', 'echo x > /added.txt; rm /bin/true; echo y >> /etc/passwd']);
    const diff = (await dockerOk(env, ['diff', name('differ')])).trim().split('\n');
    expect(diff).toEqual(expect.arrayContaining(['A /added.txt', 'D /bin/true', 'C /etc/passwd']));
    await dockerOk(env, ['update', '--restart', 'on-failure:3', name('differ')]);
    expect((await dockerOk(env, ['inspect', '-f', '{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}', name('differ')])).trim()).toBe('on-failure:3');
    await dockerOk(env, ['rm', name('differ')]);
  });

  it('docker events streams live, filtered', async () => {
    const events = spawn('docker', ['events', '--filter', 'type=container', '--filter', `container=${name('evt')}`, '--format', '{{.Action}}'], { env });
    let out = '';
    events.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await new Promise((r) => setTimeout(r, 500));
      await dockerOk(env, ['run', '--rm', '--name', name('evt'), image, 'true']);
      for (let i = 0; i < 50 && !out.includes('destroy'); i++) await new Promise((r) => setTimeout(r, 100));
      const actions = out.trim().split('\n');
      const order = ['create', 'start', 'die', 'destroy'].map((a) => actions.indexOf(a));
      expect(order.every((i) => i >= 0)).toBe(true);
      expect([...order].sort((a, b) => a - b)).toEqual(order);
    } finally {
      events.kill('SIGKILL');
    }
  });

  it('docker login, then push and pull with the stored credentials', async () => {
    const htpasswd = await makeHtpasswd(join(t.dir, 'htpasswd'), 'carol', 'secret9');
    const secured = await startRegistry({ htpasswdPath: htpasswd });
    try {
      const ref = `${secured.host}/private-${suffix}:1`;
      await dockerOk(env, ['tag', image, ref]);
      const denied = await docker(env, ['push', ref]);
      expect(denied.code).not.toBe(0);
      expect(denied.stdout + denied.stderr).toMatch(/unauthorized|authentication required|401/i);
      await dockerOk(env, ['login', secured.host, '-u', 'carol', '--password-stdin'], { input: 'secret9\n' });
      expect(await dockerOk(env, ['push', ref])).toMatch(/1: digest: sha256:[0-9a-f]{64}/);
      await dockerOk(env, ['rmi', ref]);
      expect(await dockerOk(env, ['pull', ref])).toContain(`Status: Downloaded newer image for ${ref}`);
      await dockerOk(env, ['rmi', ref]);
    } finally {
      await secured.stop();
    }
  });

  it('docker system prune', async () => {
    await dockerOk(env, ['create', '--name', name('stale'), image, 'true']);
    const out = await dockerOk(env, ['system', 'prune', '-f']);
    expect(out).toContain('Deleted Containers:');
    expect((await docker(env, ['inspect', name('stale')])).code).toBe(1);
  });

  it('bad input through the API: Docker status codes and messages', async () => {
    const post = (path: string, body: string): Promise<RawResponse> => request(t.socketPath, 'POST', path, { body, headers: { 'Content-Type': 'application/json' } });
    const unknown = await post('/v1.50/containers/create', JSON.stringify({ Image: `nothere-${suffix}:1` }));
    expect([unknown.status, JSON.parse(unknown.body).message]).toEqual([404, `No such image: nothere-${suffix}:1`]);
    const badRef = await post('/v1.50/containers/create', JSON.stringify({ Image: 'Bad_Reference!' }));
    expect(badRef.status).toBe(400);
    expect(JSON.parse(badRef.body).message).toMatch(/^invalid reference format/);
    const truncated = await post('/v1.50/containers/create', '{"Image":');
    expect([truncated.status, JSON.parse(truncated.body).message]).toEqual([400, 'invalid JSON: unexpected EOF']);
    const garbage = await post('/v1.50/containers/create', '{"Image": busybox}');
    expect([garbage.status, JSON.parse(garbage.body).message]).toEqual([400, "invalid JSON: invalid character 'b' looking for beginning of value"]);
    await dockerOk(env, ['create', '--name', name('taken'), image, 'true']);
    const conflict = await post(`/v1.50/containers/create?name=${name('taken')}`, JSON.stringify({ Image: image }));
    expect(conflict.status).toBe(409);
    expect(JSON.parse(conflict.body).message).toMatch(new RegExp(`^Conflict\\. The container name "/${name('taken')}" is already in use by container "[0-9a-f]{64}"\\. You have to remove \\(or rename\\) that container to be able to reuse that name\\.$`));
    await dockerOk(env, ['rm', name('taken')]);
    // a published port that something else holds
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const busy = await docker(env, ['run', '-d', '--name', name('porty'), '-p', `127.0.0.1:${port}:80`, image, 'sleep', '30']);
      expect(busy.code).toBe(125);
      expect(busy.stderr).toContain(`Bind for 127.0.0.1:${port} failed: port is already allocated`);
    } finally {
      holder.close();
      await docker(env, ['rm', '-f', name('porty')]);
    }
  });

  it('docker run -it through a real terminal (tmux gives the CLI a pty)', async () => {
    // A detached tmux session is a real terminal: the CLI runs in raw TTY mode as with a user.
    const session = `berth-${suffix}`;
    const outFile = join(t.dir, 'tty.out');
    const tmuxEnv = { ...env, TMUX: '' };
    const cmd = `docker run --rm -it --name ${name('tty')} ${image} sh -c 'read line; tty; echo got:$line; exit 3' > ${outFile} 2>&1; echo exit:$? >> ${outFile}`;
    await dockerTmux(tmuxEnv, ['new-session', '-d', '-s', session, '-x', '80', '-y', '24', 'sh', '-c', cmd]);
    try {
      // typed once the container runs and the CLI is attached (bounded: 15 s)
      let state = '';
      for (let i = 0; i < 150 && state !== 'running'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        state = (await docker(env, ['inspect', '-f', '{{.State.Status}}', name('tty')])).stdout.trim();
      }
      expect(state).toBe('running');
      await new Promise((r) => setTimeout(r, 300));
      await dockerTmux(tmuxEnv, ['send-keys', '-t', session, 'typed', 'Enter']);
      let out = '';
      for (let i = 0; i < 150 && !out.includes('exit:'); i++) {
        await new Promise((r) => setTimeout(r, 100));
        out = await readFile(outFile, 'utf8').catch(() => '');
      }
      expect(out).toMatch(/\/dev\/pts\/\d+/);
      expect(out).toContain('got:typed');
      expect(out).toContain('exit:3');
    } finally {
      await dockerTmux(tmuxEnv, ['kill-session', '-t', session]).catch(() => {});
    }
  });
});
