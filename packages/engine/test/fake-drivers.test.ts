/*
 * The engine over @berth/runtime's fakes (FakeDriver, FakeNetworkDriver): container
 * lifecycle, stop, logs and networking through the engine's services, with simulated
 * processes and bookkeeping-only networks. The image and snapshot side is the real one
 * (content store, overlay snapshotter records, the built-in busybox image); nothing is
 * run, mounted or plumbed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { Readable } from 'node:stream';
import { pack } from 'tar-stream';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeDriver, FakeNetworkDriver } from '@berth/runtime/fake';
import { Engine } from '../src/index.js';
import type { ContainerStats } from '../src/docker-types.js';
import { collect, text, uniq } from './helpers.js';

let dir: string;
let engine: Engine;
const network = new FakeNetworkDriver({ defaultNetwork: { name: 'bridge', subnet: '10.99.0.0/24' } });
const driver = new FakeDriver({
  name: 'fake',
  network,
  programs: (args) =>
    args[0] === 'serve'
      ? async (p) => {
          p.trap(15, () => {
            p.stdout('bye\n');
            p.exit(0);
          });
          p.stdout(`serving as ${p.getenv('WHO') ?? 'nobody'}\n`);
          for (;;) await p.sleep(1);
        }
      : undefined,
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-eng-fake-'));
  engine = await Engine.open({ root: join(dir, 'root'), runRoot: join(dir, 'run'), drivers: { runtimes: { fake: driver }, network } });
  await engine.images.ensureBuiltin('busybox');
});

afterAll(async () => {
  for (const c of await engine.containers.list({ all: true })) await engine.containers.remove(c.Id, { force: true }).catch(() => undefined);
  await engine.close();
  await rm(dir, { recursive: true, force: true });
});

describe('a caller-chosen container id (the CRI names its sandboxes before creating them)', () => {
  it('is the container\'s id; a malformed or taken one is refused', async () => {
    const id = 'ab'.repeat(32);
    const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['true'] }, { name: uniq('chosen'), id });
    expect(Id).toBe(id);
    expect((await engine.containers.inspect(id)).Id).toBe(id);
    await expect(engine.containers.create({ Image: 'busybox', Cmd: ['true'] }, { id })).rejects.toThrow(/invalid or taken container id/);
    await expect(engine.containers.create({ Image: 'busybox', Cmd: ['true'] }, { id: 'AB'.repeat(32) })).rejects.toThrow(/invalid or taken container id/);
    await expect(engine.containers.create({ Image: 'busybox', Cmd: ['true'] }, { id: 'ab' })).rejects.toThrow(/invalid or taken container id/);
    await engine.containers.remove(id, { force: true });
  });
});

describe('the engine on the fake drivers', () => {
  it('create -> start -> wait -> logs -> remove', async () => {
    const name = uniq('fake-hello');
    const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['sh', '-c', 'echo hello; echo oops >&2; exit 3'], HostConfig: { NetworkMode: 'none' } }, { name });
    const waiting = engine.containers.wait(Id, 'next-exit');
    await engine.containers.start(Id);
    expect(await waiting).toEqual({ StatusCode: 3, Error: null });
    const logs = await collect(await engine.containers.logs(Id, { stdout: true, stderr: true }));
    expect(text(logs, 'stdout')).toBe('hello\n');
    expect(text(logs, 'stderr')).toBe('oops\n');
    const info = await engine.containers.inspect(name);
    expect(info.State).toMatchObject({ Status: 'exited', ExitCode: 3 });
    await engine.containers.remove(Id);
    await expect(engine.containers.inspect(Id)).rejects.toThrow(/No such container/);
    expect((await driver.list()).map((c) => c.id)).not.toContain(Id);
  });

  it('stops with the stop signal, passing the container env to the process', async () => {
    const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['serve'], Env: ['WHO=engine'], HostConfig: { NetworkMode: 'none' } });
    await engine.containers.start(Id);
    expect((await engine.containers.inspect(Id)).State.Running).toBe(true);
    await expect(engine.containers.remove(Id)).rejects.toThrow(/container is running/);
    await engine.containers.stop(Id, { timeout: 5 });
    const st = (await engine.containers.inspect(Id)).State;
    expect(st).toMatchObject({ Status: 'exited', ExitCode: 0 });
    expect(text(await collect(await engine.containers.logs(Id, { stdout: true })))).toBe('serving as engine\nbye\n');
    await engine.containers.remove(Id);
  });

  it('puts a container on a user network with an address, an alias and a published port', async () => {
    const net = uniq('fakenet');
    const hostPort = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const a = srv.address();
        srv.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
      });
    });
    await engine.networks.create({ Name: net, IPAM: { Config: [{ Subnet: '10.98.7.0/24' }] } });
    const { Id } = await engine.containers.create({
      Image: 'busybox',
      Cmd: ['serve'],
      ExposedPorts: { '80/tcp': {} },
      HostConfig: { NetworkMode: net, PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: String(hostPort) }] } },
      NetworkingConfig: { EndpointsConfig: { [net]: { Aliases: ['web'] } } },
    });
    await engine.containers.start(Id);
    const info = await engine.containers.inspect(Id);
    const ep = info.NetworkSettings.Networks[net];
    expect(ep?.IPAddress).toMatch(/^10\.98\.7\.\d+$/);
    expect((await engine.networks.inspect(net)).Containers?.[Id]?.IPv4Address).toBe(`${ep?.IPAddress}/24`);
    const runtimeId = (await driver.list()).find((c) => c.id.startsWith(Id))?.id ?? Id;
    expect(network.lookup(runtimeId, 'web')).toEqual([ep?.IPAddress]);
    expect(info.NetworkSettings.Ports['80/tcp']).toEqual([{ HostIp: '127.0.0.1', HostPort: String(hostPort) }]);
    // the network driver is the one port allocator: a taken port is refused in Docker's words, port 0 is its pick
    const { Id: again } = await engine.containers.create({ Image: 'busybox', Cmd: ['serve'], HostConfig: { NetworkMode: net, PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: String(hostPort) }] } } });
    await expect(engine.containers.start(again)).rejects.toMatchObject({
      code: 'Internal',
      message: expect.stringMatching(new RegExp(`^driver failed programming external connectivity on endpoint .* \\(${again}\\): Bind for 127\\.0\\.0\\.1:${hostPort} failed: port is already allocated`)),
    });
    await engine.containers.remove(again, { force: true });
    const { Id: any } = await engine.containers.create({ Image: 'busybox', Cmd: ['serve'], HostConfig: { NetworkMode: net, PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '' }] } } });
    await engine.containers.start(any);
    const picked = (await engine.containers.inspect(any)).NetworkSettings.Ports['80/tcp']?.[0];
    expect(Number(picked?.HostPort)).toBeGreaterThan(0);
    const attached = (await network.inspectNetwork(net)).containers.map((c) => c.containerId);
    expect(attached).toHaveLength(2);
    await engine.containers.remove(any, { force: true });
    await engine.containers.remove(Id, { force: true });
    expect((await network.inspectNetwork(net)).containers).toEqual([]);
    await engine.networks.remove(net);
  });

  it('execs into a running container', async () => {
    const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['serve'], Env: ['WHO=x'], HostConfig: { NetworkMode: 'none' } });
    await engine.containers.start(Id);
    const ex = await engine.containers.execCreate(Id, { Cmd: ['sh', '-c', 'echo "in-exec:$WHO"; echo err-exec >&2; exit 4'], AttachStdout: true, AttachStderr: true });
    const es = await engine.containers.execStart(ex.Id, {});
    const out = await collect(es!.output);
    expect(text(out, 'stdout')).toBe('in-exec:x\n');
    expect(text(out, 'stderr')).toBe('err-exec\n');
    for (let i = 0; i < 50 && (await engine.containers.execInspect(ex.Id)).Running; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await engine.containers.execInspect(ex.Id)).ExitCode).toBe(4);
    await engine.containers.remove(Id, { force: true });
  });

  it('top, stats, pause and cp go through the driver: no /proc of the host is read', async () => {
    const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['serve'], HostConfig: { NetworkMode: 'none' } });
    await expect(engine.containers.top(Id)).rejects.toThrow(/is not running/);
    await engine.containers.start(Id);
    const top = await engine.containers.top(Id);
    expect(top.Titles).toEqual(['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
    expect(top.Processes.map((p) => p.at(-1))).toEqual(['serve']);
    await expect(engine.containers.top(Id, { psArgs: 'aux' })).rejects.toMatchObject({ code: 'InvalidArgument' });
    // the fake's host: one CPU and 1 GiB, the limit of a container that sets none
    const stats = (await engine.containers.stats(Id)) as ContainerStats;
    expect(stats.cpu_stats).toMatchObject({ online_cpus: 1 });
    expect(stats.cpu_stats.system_cpu_usage).toBeGreaterThan(stats.precpu_stats.system_cpu_usage ?? Infinity);
    expect(stats.memory_stats).toMatchObject({ limit: 1 << 30 });
    expect(stats.networks).toBeUndefined();
    await engine.containers.pause(Id);
    expect((await engine.containers.inspect(Id)).State).toMatchObject({ Status: 'paused', Paused: true });
    await engine.containers.unpause(Id);
    // docker cp into a running container lands in the root the driver opens: the container's cat reads it
    const tar = pack();
    tar.entry({ name: 'hello.txt', mode: 0o644 }, 'from cp\n');
    tar.finalize();
    await engine.containers.putArchive(Id, '/', Readable.from(tar));
    const ex = await engine.containers.execCreate(Id, { Cmd: ['cat', '/hello.txt'], AttachStdout: true, AttachStderr: true });
    expect(text(await collect((await engine.containers.execStart(ex.Id, {}))!.output), 'stdout')).toBe('from cp\n');
    await engine.containers.remove(Id, { force: true });
  });

  it('on-failure:2 restarts a failing container twice; logs keep every run', async () => {
    const { Id } = await engine.containers.create({
      Image: 'busybox',
      Cmd: ['sh', '-c', 'echo run; exit 5'],
      HostConfig: { NetworkMode: 'none', RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 } },
    });
    await engine.containers.start(Id);
    for (let i = 0; i < 200; i++) {
      const c = await engine.containers.inspect(Id);
      if (c.RestartCount === 2 && c.State.Status === 'exited') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const c = await engine.containers.inspect(Id);
    expect(c.RestartCount).toBe(2);
    expect(c.State).toMatchObject({ Status: 'exited', ExitCode: 5 });
    expect(text(await collect(await engine.containers.logs(Id, {})))).toBe('run\nrun\nrun\n');
    await engine.containers.remove(Id);
  });
});
