/*
 * container-spec.ts is pure: a container record plus what a start resolved becomes the
 * runtime driver's ContainerSpec. These pin Docker's flag semantics as the driver sees them.
 */
import { describe, expect, it } from 'vitest';
import { containerSpec, type RunInputs } from '../src/containers/container-spec.js';
import { ID_LABEL, ROOT_LABEL } from '../src/containers/context.js';
import { INIT_PATH_IN_CONTAINER } from '../src/containers/init-binary.js';
import type { ContainerRecord } from '../src/containers/record.js';
import type { HostConfig } from '../src/docker-types.js';

const ID = 'a'.repeat(64);

function record(over: { config?: Partial<ContainerRecord['config']>; host?: HostConfig; rest?: Partial<ContainerRecord> } = {}): ContainerRecord {
  return {
    id: ID,
    name: 'web',
    created: '2026-01-01T00:00:00Z',
    imageRef: 'busybox',
    imageId: 'sha256:' + 'b'.repeat(64),
    platform: 'linux/amd64',
    config: { Hostname: 'aaaaaaaaaaaa', Env: ['PATH=/bin', 'A=1'], Cmd: ['echo', 'hi'], Image: 'busybox', Labels: { tier: 'front' }, ...over.config },
    hostConfig: { NetworkMode: 'bridge', ...over.host },
    path: 'echo',
    args: ['hi'],
    state: { status: 'created', pid: 0, exitCode: 0, error: '', oomKilled: false, startedAt: '', finishedAt: '' },
    restartCount: 0,
    manuallyStopped: false,
    snapshotKey: `container-${ID}`,
    parentChainId: undefined,
    logPath: `/root/containers/${ID}/ctr.log`,
    mounts: [],
    copyUp: [],
    anonymousVolumes: [],
    networks: {},
    ports: [],
    sandboxKey: '',
    runtimeCreated: false,
    ...over.rest,
  };
}

const run: RunInputs = {
  runtimeId: `${ID}-2`,
  rootfs: [{ type: 'overlay', source: 'overlay', options: ['lowerdir=/l', 'upperdir=/u', 'workdir=/w'] }],
  ports: [],
  links: { env: [], hosts: [] },
  defaultDns: ['10.0.0.53'],
  engineRoot: '/var/lib/berth',
};

describe('containerSpec', () => {
  it('runs the record\'s process in its rootfs, labelled for the engine root and the record', () => {
    const spec = containerSpec(record(), run);
    expect(spec.id).toBe(`${ID}-2`);
    expect(spec.process).toMatchObject({ args: ['echo', 'hi'], cwd: '/', tty: false, stdin: false });
    expect(spec.process.user).toBeUndefined();
    expect(spec.rootfs).toEqual({ mounts: run.rootfs, readonly: false });
    expect(spec.labels).toEqual({ tier: 'front', [ROOT_LABEL]: '/var/lib/berth', [ID_LABEL]: ID });
    expect(spec.logPath).toBe(`/root/containers/${ID}/ctr.log`);
    expect(spec.stopSignal).toBe('SIGTERM');
    expect(spec.hostname).toBe('aaaaaaaaaaaa');
  });

  it('carries the image platform and the isolation the registry chooses a driver by', () => {
    expect(containerSpec(record(), run)).toMatchObject({ platform: { os: 'linux', architecture: 'amd64' } });
    expect(containerSpec(record(), run).isolation).toBeUndefined();
    const win = containerSpec(record({ host: { Isolation: 'HyperV' }, rest: { platform: 'windows/amd64' } }), run);
    expect(win).toMatchObject({ platform: { os: 'windows', architecture: 'amd64' }, isolation: 'hyperv' });
  });

  it('adds HOSTNAME, and TERM with a TTY; drops bare names (-e FOO with FOO unset on the client)', () => {
    const spec = containerSpec(record({ config: { Env: ['PATH=/bin', 'UNSET'], Tty: true } }), run);
    expect(spec.process.env).toEqual(['PATH=/bin', 'HOSTNAME=aaaaaaaaaaaa', 'TERM=xterm']);
    expect(containerSpec(record({ config: { Env: ['TERM=dumb', 'HOSTNAME=x'], Tty: true } }), run).process.env).toEqual(['TERM=dumb', 'HOSTNAME=x']);
  });

  it('keeps stdin open for the next client unless StdinOnce without a TTY (Docker)', () => {
    expect(containerSpec(record({ config: { OpenStdin: true } }), run).process.keepStdinOpen).toBe(true);
    expect(containerSpec(record({ config: { OpenStdin: true, StdinOnce: true } }), run).process.keepStdinOpen).toBeUndefined();
    expect(containerSpec(record({ config: { OpenStdin: true, StdinOnce: true, Tty: true } }), run).process.keepStdinOpen).toBe(true);
  });

  it('--init runs the process under the host\'s init, mounted read-only', () => {
    const spec = containerSpec(record({ host: { Init: true } }), { ...run, initBinary: '/usr/bin/docker-init' });
    expect(spec.process.args).toEqual([INIT_PATH_IN_CONTAINER, '--', 'echo', 'hi']);
    expect(spec.mounts).toContainEqual({ type: 'bind', source: '/usr/bin/docker-init', destination: INIT_PATH_IN_CONTAINER, options: ['bind'], readonly: true });
  });

  it('binds and volumes are rbind with their propagation; a tmpfs\' ro is the mount\'s read-only flag', () => {
    const spec = containerSpec(
      record({
        rest: {
          mounts: [
            { Type: 'volume', Name: 'v', Source: '/vol/v', Destination: '/data', Driver: 'local', Mode: 'z', RW: true, Propagation: '' },
            { Type: 'bind', Source: '/host', Destination: '/h', Mode: 'ro', RW: false, Propagation: 'rslave' },
            { Type: 'tmpfs', Source: '', Destination: '/t', Mode: 'ro,size=1m', RW: true, Propagation: '' },
          ],
        },
      }),
      run,
    );
    expect(spec.mounts).toEqual([
      { type: 'bind', source: '/vol/v', destination: '/data', options: ['rbind'], readonly: false },
      { type: 'bind', source: '/host', destination: '/h', options: ['rbind', 'rslave'], readonly: true },
      { type: 'tmpfs', destination: '/t', options: ['nosuid', 'nodev', 'size=1m'], readonly: true },
    ]);
  });

  it('--cpus is a quota over a 100 ms period; other limits pass as given, zero ones not at all', () => {
    const spec = containerSpec(record({ host: { NanoCpus: 1.5e9, Memory: 1 << 26, PidsLimit: 0, MemorySwappiness: -1, CpusetCpus: '0' } }), run);
    expect(spec.resources).toEqual({ memory: 1 << 26, cpuQuota: 150000, cpuPeriod: 100000, cpusetCpus: '0' });
    expect(containerSpec(record({ host: { CpuQuota: 5000, CpuPeriod: 20000, MemorySwappiness: 0 } }), run).resources).toEqual({ cpuQuota: 5000, cpuPeriod: 20000, memorySwappiness: 0 });
  });

  it('default-bridge containers get daemon.json dns unless they name servers; user networks get none of it', () => {
    expect(containerSpec(record(), run).network?.dns?.servers).toEqual(['10.0.0.53']);
    expect(containerSpec(record({ host: { Dns: ['1.1.1.1'] } }), run).network?.dns?.servers).toEqual(['1.1.1.1']);
    expect(containerSpec(record({ host: { NetworkMode: 'mynet' } }), run).network?.dns?.servers).toEqual([]);
  });

  it('user networks are bridge mode with their endpoints; host, none and container: pass through', () => {
    const r = record({
      host: { NetworkMode: 'mynet' },
      rest: { networks: { mynet: { NetworkID: 'n1', Aliases: ['api'], IPAMConfig: { IPv4Address: '10.1.0.9' }, Links: ['db:data'], EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0, MacAddress: '' } } },
    });
    expect(containerSpec(r, run).network).toMatchObject({ mode: 'bridge', networks: [{ name: 'mynet', aliases: ['api'], ipv4Address: '10.1.0.9', links: [{ alias: 'data', target: 'db' }] }] });
    for (const mode of ['host', 'none', 'container:abc']) expect(containerSpec(record({ host: { NetworkMode: mode } }), run).network?.mode).toBe(mode);
  });

  it('legacy links add their variables (the container\'s own win) and hosts lines before --add-host', () => {
    const spec = containerSpec(record({ config: { Env: ['A=own'] }, host: { ExtraHosts: ['x:1.2.3.4'] } }), { ...run, links: { env: ['A=link', 'DB_PORT=tcp://10.0.0.2:5432'], hosts: ['10.0.0.2\tdb'] } });
    expect(spec.process.env).toEqual(['DB_PORT=tcp://10.0.0.2:5432', 'A=own', 'HOSTNAME=aaaaaaaaaaaa']);
    expect(spec.network?.extraHosts).toEqual(['10.0.0.2\tdb', 'x:1.2.3.4']);
  });

  it('publishes ports with the wildcard address left out; sctp is not a driver protocol', () => {
    const spec = containerSpec(record(), {
      ...run,
      ports: [
        { containerPort: 80, protocol: 'tcp', hostIp: '', hostPort: 0 },
        { containerPort: 53, protocol: 'udp', hostIp: '127.0.0.1', hostPort: 5353 },
      ],
    });
    expect(spec.network?.ports).toEqual([
      { hostPort: 0, containerPort: 80, protocol: 'tcp' },
      { hostIp: '127.0.0.1', hostPort: 5353, containerPort: 53, protocol: 'udp' },
    ]);
  });

  it('security: privileged, capabilities, no-new-privileges and seccomp=unconfined from SecurityOpt; host namespaces', () => {
    const spec = containerSpec(
      record({ host: { Privileged: true, CapAdd: ['NET_ADMIN'], SecurityOpt: ['no-new-privileges', 'seccomp=unconfined'], PidMode: 'host', UTSMode: 'host', ReadonlyRootfs: true, GroupAdd: ['audio'] } }),
      run,
    );
    expect(spec.security).toEqual({ privileged: true, capAdd: ['NET_ADMIN'], capDrop: [], readonlyRootfs: true, noNewPrivileges: true, seccomp: 'unconfined' });
    expect(spec.hostNamespaces).toEqual(['pid', 'uts']);
    expect(spec.rootfs.readonly).toBe(true);
    expect(spec.process.groupAdd).toEqual(['audio']);
  });

  it('devices default to the host path and rwm; ulimits, console size, log limits and the stop signal pass through', () => {
    const spec = containerSpec(
      record({ config: { StopSignal: 'usr1' }, host: { Devices: [{ PathOnHost: '/dev/fuse', PathInContainer: '', CgroupPermissions: '' }], Ulimits: [{ Name: 'nofile', Soft: 10, Hard: 20 }], ConsoleSize: [30, 100] } }),
      { ...run, logLimits: { maxSize: 1024, maxFiles: 2 } },
    );
    expect(spec.devices).toEqual([{ pathOnHost: '/dev/fuse', pathInContainer: '/dev/fuse', permissions: 'rwm' }]);
    expect(spec.process.rlimits).toEqual([{ type: 'nofile', soft: 10, hard: 20 }]);
    expect(spec.process.terminalSize).toEqual({ height: 30, width: 100 });
    expect(spec.logLimits).toEqual({ maxSize: 1024, maxFiles: 2 });
    expect(spec.stopSignal).toBe('SIGUSR1');
  });
});
