import { afterAll, describe, expect, it } from 'vitest';
import { useTestDaemon } from './support/fixture.js';
import { docker, dockerOk } from './support/docker-cli.js';
import { request } from './support/http.js';

// `docker run --pid container:<name|id>` against berthd, answered as dockerd 20.10 answers it
// (checked at the reference daemon): the target is resolved at create and recorded by id,
// a missing one is a 400, a stopped one fails the start with a 500 naming its id.
describe('docker --pid container:<target>', () => {
  const t = useTestDaemon({ busybox: 'builtin' });
  const sfx = `${process.pid}`;
  const names: string[] = [];
  const name = (n: string): string => {
    names.push(`pid-${n}-${sfx}`);
    return `pid-${n}-${sfx}`;
  };
  afterAll(async () => {
    for (const n of names) await docker(t.dockerEnv, ['rm', '-f', n]);
  });

  it('joins the target\'s PID namespace: each sees the other\'s processes', async () => {
    const target = name('target');
    const id = (await dockerOk(t.dockerEnv, ['run', '-d', '--network', 'none', '--name', target, 'busybox', 'sleep', '1001'])).trim();
    const joined = name('joined');
    await dockerOk(t.dockerEnv, ['run', '-d', '--network', 'none', '--name', joined, '--pid', `container:${target}`, 'busybox', 'sleep', '1002']);
    // the target's process is PID 1 of the shared namespace
    const seen = await dockerOk(t.dockerEnv, ['exec', joined, 'ps', '-o', 'pid,args']);
    expect(seen).toMatch(/^\s*1 sleep 1001$/m);
    expect(seen).toMatch(/sleep 1002/);
    expect(await dockerOk(t.dockerEnv, ['exec', target, 'ps', '-o', 'args'])).toMatch(/sleep 1002/);
    // recorded by the target's full id, as dockerd does
    expect((await dockerOk(t.dockerEnv, ['inspect', '-f', '{{.HostConfig.PidMode}}', joined])).trim()).toBe(`container:${id}`);
    // a container of its own sees neither
    expect(await dockerOk(t.dockerEnv, ['run', '--rm', '--network', 'none', 'busybox', 'ps', '-o', 'args'])).not.toMatch(/sleep 100[12]/);
  });

  it('refuses a missing target at create (400 No such container)', async () => {
    const r = await docker(t.dockerEnv, ['create', '--name', name('orphan'), '--pid', `container:nosuch-${sfx}`, 'busybox', 'true']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`Error response from daemon: No such container: nosuch-${sfx}`);
    const res = await request(t.socketPath, 'POST', '/v1.41/containers/create', { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ Image: 'busybox', HostConfig: { PidMode: `container:nosuch-${sfx}` } }) });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toEqual({ message: `No such container: nosuch-${sfx}` });
  });

  it('fails the start while the target is not running, and starts once it runs', async () => {
    const target = name('stopped');
    const id = (await dockerOk(t.dockerEnv, ['create', '--network', 'none', '--name', target, 'busybox', 'sleep', '1003'])).trim();
    const joined = name('waiting');
    await dockerOk(t.dockerEnv, ['create', '--network', 'none', '--name', joined, '--pid', `container:${target}`, 'busybox', 'sleep', '1004']);
    const r = await docker(t.dockerEnv, ['start', joined]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`Error response from daemon: container ${id} is not running`);
    const run = await docker(t.dockerEnv, ['run', '--rm', '--network', 'none', '--pid', `container:${target}`, 'busybox', 'true']);
    expect(run.code).toBe(125);
    expect(run.stderr).toContain(`container ${id} is not running`);
    await dockerOk(t.dockerEnv, ['start', target]);
    await dockerOk(t.dockerEnv, ['start', joined]);
    expect(await dockerOk(t.dockerEnv, ['exec', joined, 'ps', '-o', 'args'])).toMatch(/sleep 1003/);
  });
});
