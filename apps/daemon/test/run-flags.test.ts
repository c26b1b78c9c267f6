import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { useTestDaemon } from './support/fixture.js';
import { docker, dockerOk } from './support/docker-cli.js';

// docker run flags that reach the kernel: each checked from inside the container, as
// Docker gives them (the docker 28 CLI against berthd; the built-in busybox).
describe('docker run flags inside the container', () => {
  const t = useTestDaemon({ busybox: 'builtin' });
  const run = (args: string[]): Promise<string> => dockerOk(t.dockerEnv, ['run', '--rm', '--network', 'none', ...args]);

  it('--ulimit sets soft and hard limits; an unknown name is refused', async () => {
    expect(await run(['--ulimit', 'nofile=1024:2048', 'busybox', 'sh', '-c', 'ulimit -n; ulimit -Hn'])).toBe('1024\n2048\n');
    expect(await run(['--ulimit', 'nproc=300:400', 'busybox', 'sh', '-c', 'ulimit -u'])).toBe('300\n');
  });

  it('--group-add adds groups by id and by name from the image', async () => {
    expect(await run(['--group-add', '10', '--group-add', 'nogroup', '-u', '1000', 'busybox', 'id', '-G'])).toMatch(/^0 10 65534\n$/);
    const missing = await docker(t.dockerEnv, ['run', '--rm', '--network', 'none', '--group-add', 'nosuchgroup', 'busybox', 'true']);
    expect(missing.code).toBe(125);
    expect(missing.stderr).toContain('unable to find group nosuchgroup');
  });

  it('--pid, --ipc and --uts host share the host namespaces', async () => {
    const procs = Number((await run(['--pid', 'host', 'busybox', 'sh', '-c', 'ps -o pid | wc -l'])).trim());
    expect(procs).toBeGreaterThan(20);
    expect(Number((await run(['busybox', 'sh', '-c', 'ps -o pid | wc -l'])).trim())).toBeLessThan(5);
    expect((await run(['--uts', 'host', 'busybox', 'hostname'])).trim()).toBe(hostname());
    const ipc = async (args: string[]) => (await run([...args, 'busybox', 'readlink', '/proc/self/ns/ipc'])).trim();
    const { readlink } = await import('node:fs/promises');
    expect(await ipc(['--ipc', 'host'])).toBe(await readlink('/proc/self/ns/ipc'));
    expect(await ipc([])).not.toBe(await readlink('/proc/self/ns/ipc'));
  });

  it('--cpuset-cpus and --sysctl reach the cgroup and the namespace', async () => {
    expect((await run(['--cpuset-cpus', '0', 'busybox', 'sh', '-c', 'cat /sys/fs/cgroup/cpuset/cpuset.cpus 2>/dev/null || cat /sys/fs/cgroup/cpuset.cpus.effective'])).trim()).toBe('0');
    expect((await run(['--sysctl', 'net.ipv4.ip_unprivileged_port_start=80', 'busybox', 'cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start'])).trim()).toBe('80');
  });

  it('-e NAME with NAME unset where docker ran leaves it unset in the container', async () => {
    const env = { ...t.dockerEnv };
    delete env['BERTH_UNSET_PROBE'];
    expect(await dockerOk(env, ['run', '--rm', '--network', 'none', '-e', 'BERTH_UNSET_PROBE', 'busybox', 'sh', '-c', 'echo ${BERTH_UNSET_PROBE-unset}'])).toBe('unset\n');
    expect(await dockerOk({ ...env, BERTH_UNSET_PROBE: 'set' }, ['run', '--rm', '--network', 'none', '-e', 'BERTH_UNSET_PROBE', 'busybox', 'sh', '-c', 'echo ${BERTH_UNSET_PROBE-unset}'])).toBe('set\n');
  });
});
