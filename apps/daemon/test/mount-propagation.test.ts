import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDaemon } from './support/fixture.js';
import { docker, dockerOk } from './support/docker-cli.js';
import { HostMounts } from './support/host-mounts.js';

// `--mount type=bind,...,bind-propagation=rshared|rslave` with real host mounts, answered as
// dockerd 20.10 answers it (checked at the reference daemon): rshared propagates both ways,
// rslave from the host only, rprivate neither; a source that is not on a shared (or, for
// rslave, slave) mount fails the start with dockerd's words. The host keeps its own mounts
// (crun's namespace here hides the hybrid cgroup2 mount from it only).
describe('bind mount propagation', () => {
  const t = useTestDaemon({ busybox: 'builtin' });
  let m: HostMounts;
  const names: string[] = [];
  const name = (n: string): string => {
    names.push(`prop-${n}-${process.pid}`);
    return `prop-${n}-${process.pid}`;
  };
  // a container that may mount (the default seccomp profile allows it with CAP_SYS_ADMIN)
  const runWith = async (n: string, source: string, propagation: string): Promise<string> =>
    (await dockerOk(t.dockerEnv, ['run', '-d', '--network', 'none', '--name', name(n), '--cap-add', 'SYS_ADMIN', '--mount', `type=bind,src=${source},dst=/m,bind-propagation=${propagation}`, 'busybox', 'sleep', '1000'])).trim();
  const inContainer = (id: string, script: string) => docker(t.dockerEnv, ['exec', id, 'sh', '-c', script]);

  beforeAll(async () => {
    m = await HostMounts.create('berth-prop-');
  });
  afterAll(async () => {
    for (const n of names) await docker(t.dockerEnv, ['rm', '-f', n]);
    await m?.cleanup();
  });

  it('rshared: a host mount appears in the container, a container mount on the host', async () => {
    const src = await m.selfBind(join(m.dir, 'shared'), 'rshared');
    const id = await runWith('shared', src, 'rshared');
    await m.tmpfs(join(src, 'from-host'));
    await writeFile(join(src, 'from-host', 'flag'), 'host\n');
    expect((await inContainer(id, 'cat /m/from-host/flag')).stdout).toBe('host\n');
    const r = await inContainer(id, 'mkdir -p /m/from-ctr && mount -t tmpfs tmpfs /m/from-ctr && echo ctr > /m/from-ctr/flag');
    expect(r.stderr).toBe('');
    expect(await HostMounts.isMountPoint(join(src, 'from-ctr'))).toBe(true);
    expect(await readFile(join(src, 'from-ctr', 'flag'), 'utf8')).toBe('ctr\n');
    expect((await dockerOk(t.dockerEnv, ['inspect', '-f', '{{json .Mounts}}', id])).trim()).toBe(JSON.stringify([{ Type: 'bind', Source: src, Destination: '/m', Mode: '', RW: true, Propagation: 'rshared' }]));
  });

  it('rslave: a host mount appears in the container, not the other way', async () => {
    const src = await m.selfBind(join(m.dir, 'slave'), 'rshared');
    const id = await runWith('slave', src, 'rslave');
    await m.tmpfs(join(src, 'from-host'));
    await writeFile(join(src, 'from-host', 'flag'), 'host\n');
    expect((await inContainer(id, 'cat /m/from-host/flag')).stdout).toBe('host\n');
    expect((await inContainer(id, 'mkdir -p /m/from-ctr && mount -t tmpfs tmpfs /m/from-ctr && echo ctr > /m/from-ctr/flag')).stderr).toBe('');
    expect(await HostMounts.isMountPoint(join(src, 'from-ctr'))).toBe(false);
  });

  it('rprivate (the default): neither way', async () => {
    const src = await m.selfBind(join(m.dir, 'private-bind'), 'rshared');
    const id = await runWith('private', src, 'rprivate');
    await m.tmpfs(join(src, 'from-host'));
    await writeFile(join(src, 'from-host', 'flag'), 'host\n');
    expect((await inContainer(id, 'ls -A /m/from-host')).stdout).toBe('');
    expect((await inContainer(id, 'mkdir -p /m/from-ctr && mount -t tmpfs tmpfs /m/from-ctr')).stderr).toBe('');
    expect(await HostMounts.isMountPoint(join(src, 'from-ctr'))).toBe(false);
  });

  it('refuses rshared and rslave binds of a source on a private mount, as dockerd', async () => {
    const src = await m.selfBind(join(m.dir, 'private'), 'rprivate');
    const shared = await docker(t.dockerEnv, ['run', '--rm', '--network', 'none', '--mount', `type=bind,src=${src},dst=/m,bind-propagation=rshared`, 'busybox', 'true']);
    expect(shared.code).toBe(125);
    expect(shared.stderr).toContain(`Error response from daemon: path ${src} is mounted on ${src} but it is not a shared mount`);
    const slave = await docker(t.dockerEnv, ['run', '--rm', '--network', 'none', '-v', `${src}:/m:rslave`, 'busybox', 'true']);
    expect(slave.code).toBe(125);
    expect(slave.stderr).toContain(`Error response from daemon: path ${src} is mounted on ${src} but it is not a shared or slave mount`);
  });

  it('leaves the host its cgroup mounts', async () => {
    const before = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => / - cgroup2? /.test(l)).map((l) => l.split(' ')[4]);
    await dockerOk(t.dockerEnv, ['run', '--rm', '--network', 'none', 'busybox', 'true']);
    const after = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => / - cgroup2? /.test(l)).map((l) => l.split(' ')[4]);
    expect(after).toEqual(before);
  });
});
