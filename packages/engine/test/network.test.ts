import { randomInt } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, openTestEngine, text, uniq, type TestEngine } from './helpers.js';

let t: TestEngine;
beforeAll(async () => {
  // A bridge, subnet and pool of its own so parallel tests never collide.
  const a = randomInt(200, 250);
  t = await openTestEngine({
    bridge: `bt${randomInt(0x100000, 0xffffff).toString(16)}`,
    bip: `10.${a}.${randomInt(0, 255)}.0/24`,
    'network-pool': { base: `10.${a + 1}.0.0/16`, prefixLen: 24 },
    dns: ['10.123.0.53'],
  });
  await t.engine.images.ensureBuiltin('busybox');
});
afterAll(async () => {
  await t?.cleanup();
});

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

async function getWithRetry(port: number): Promise<string> {
  let last: unknown;
  for (let i = 0; i < 40; i++) {
    try {
      return await get(port);
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw last;
}

describe('networking through driver-linux', () => {
  it('publishes a port of a container on the default bridge', async () => {
    const { engine } = t;
    const { Id } = await engine.containers.create({
      Image: 'busybox',
      Cmd: ['sh', '-c', 'mkdir -p /www && echo hello-bridge > /www/index.html && exec httpd -f -p 80 -h /www'],
      ExposedPorts: { '80/tcp': {} },
      HostConfig: { PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } },
    });
    await engine.containers.start(Id);
    const info = await engine.containers.inspect(Id);
    const hostPort = Number(info.NetworkSettings.Ports['80/tcp']?.[0]?.HostPort);
    expect(hostPort).toBeGreaterThan(0);
    expect(info.NetworkSettings.Networks.bridge?.IPAddress).toMatch(/^10\./);
    expect(info.NetworkSettings.IPAddress).toBe(info.NetworkSettings.Networks.bridge?.IPAddress);
    const [row] = await engine.containers.list({ filters: { id: [Id] } });
    expect(row?.Ports).toContainEqual({ IP: '127.0.0.1', PrivatePort: 80, PublicPort: hostPort, Type: 'tcp' });
    expect(await getWithRetry(hostPort)).toBe('hello-bridge\n');
    // The same host port again is refused, as Docker does.
    const other = await engine.containers.create({ Image: 'busybox', Cmd: ['true'], HostConfig: { PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: String(hostPort) }] } } });
    await expect(engine.containers.start(other.Id)).rejects.toThrow(/port is already allocated/);
    await engine.containers.remove(other.Id, { force: true });
    await engine.containers.stop(Id, { timeout: 2 });
    await engine.containers.remove(Id);
  });

  it('connects two containers on a user network; the network refuses removal while in use', async () => {
    const { engine } = t;
    const name = uniq('net');
    const { Id: netId } = await engine.networks.create({ Name: name, Labels: { purpose: 'test' } });
    await expect(engine.networks.create({ Name: name })).rejects.toThrow(`network with name ${name} already exists`);
    const server = await engine.containers.create({
      Image: 'busybox',
      Cmd: ['sh', '-c', 'mkdir -p /www && echo on-user-net > /www/index.html && exec httpd -f -p 8080 -h /www'],
      HostConfig: { NetworkMode: name },
    });
    await engine.containers.start(server.Id);
    const ip = (await engine.containers.inspect(server.Id)).NetworkSettings.Networks[name]?.IPAddress;
    expect(ip).toMatch(/^10\./);
    const inspect = await engine.networks.inspect(name);
    expect(inspect.Id).toBe(netId);
    expect(Object.keys(inspect.Containers)).toEqual([server.Id]);
    expect(inspect.IPAM.Config[0]?.Subnet).toMatch(/\/24$/);
    const client = await engine.containers.create({ Image: 'busybox', Cmd: ['sh', '-c', `for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O - http://${ip}:8080/ && exit 0; sleep 0.2; done; exit 1`], HostConfig: { NetworkMode: name } });
    const w = engine.containers.wait(client.Id, 'next-exit');
    await engine.containers.start(client.Id);
    expect((await w).StatusCode).toBe(0);
    expect(text(await collect(await engine.containers.logs(client.Id, {})))).toBe('on-user-net\n');
    await expect(engine.networks.remove(name)).rejects.toThrow(/has active endpoints/);
    await expect(engine.networks.remove('bridge')).rejects.toMatchObject({ code: 'Forbidden' });
    expect((await engine.networks.list({ filters: { label: ['purpose=test'] } })).map((n) => n.Name)).toEqual([name]);
    await engine.containers.remove(server.Id, { force: true });
    await engine.containers.remove(client.Id);
    await engine.networks.remove(name);
    await expect(engine.networks.inspect(name)).rejects.toThrow(/not found/);
  });

  it('publishes every exposed port with PublishAllPorts (-P)', async () => {
    const { engine } = t;
    const { Id } = await engine.containers.create({
      Image: 'busybox',
      Cmd: ['sh', '-c', 'mkdir -p /www && echo all-ports > /www/index.html && exec httpd -f -p 8081 -h /www'],
      ExposedPorts: { '8081/tcp': {} },
      HostConfig: { PublishAllPorts: true },
    });
    await engine.containers.start(Id);
    const port = Number((await engine.containers.inspect(Id)).NetworkSettings.Ports['8081/tcp']?.[0]?.HostPort);
    expect(port).toBeGreaterThan(0);
    expect(await getWithRetry(port)).toBe('all-ports\n');
    await engine.containers.remove(Id, { force: true });
  });

  it('runs with host and none networking', async () => {
    const { engine } = t;
    const none = await engine.containers.create({ Image: 'busybox', Cmd: ['sh', '-c', 'ip -o link | grep -c -v " lo:"'], HostConfig: { NetworkMode: 'none' } });
    const w = engine.containers.wait(none.Id, 'next-exit');
    await engine.containers.start(none.Id);
    await w;
    expect(text(await collect(await engine.containers.logs(none.Id, {})))).toBe('0\n');
    await engine.containers.remove(none.Id);
  });
  it('auto-remove reports removed first and releases after; removing its network or image waits for that', async () => {
    const { engine } = t;
    const { readdir } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const net = uniq('arnet');
    await engine.networks.create({ Name: net });
    for (let i = 0; i < 2; i++) {
      const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['true'], HostConfig: { NetworkMode: net, AutoRemove: true } });
      const removed = engine.containers.wait(Id, 'removed');
      await engine.containers.start(Id);
      expect((await removed).StatusCode).toBe(0);
      await expect(engine.containers.inspect(Id)).rejects.toThrow(/No such container/);
      if (i === 1) {
        await engine.containers.released();
        expect(await readdir(join(t.root, 'containers'))).not.toContain(Id);
      }
    }
    // at once: no "active endpoints" from a release still under way
    await engine.networks.remove(net);
    const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['true'], HostConfig: { NetworkMode: 'none', AutoRemove: true } });
    const removed = engine.containers.wait(Id, 'removed');
    await engine.containers.start(Id);
    await removed;
    await engine.images.remove('busybox');
    await engine.images.ensureBuiltin('busybox');
  });
  it("daemon.json dns is the nameserver of default-bridge containers that name none (Docker's)", async () => {
    const { engine } = t;
    const resolv = async (hostConfig: Record<string, unknown>): Promise<string> => {
      const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['cat', '/etc/resolv.conf'], HostConfig: hostConfig });
      const w = engine.containers.wait(Id, 'next-exit');
      await engine.containers.start(Id);
      await w;
      const out = text(await collect(await engine.containers.logs(Id, {})));
      await engine.containers.remove(Id);
      return out;
    };
    expect(await resolv({})).toMatch(/^nameserver 10\.123\.0\.53$/m);
    const own = await resolv({ Dns: ['10.124.0.53'] });
    expect(own).toMatch(/^nameserver 10\.124\.0\.53$/m);
    expect(own).not.toContain('10.123.0.53');
  });
  it('inspect names a user-network endpoint as Docker does: DNSNames = name, aliases, short ID', async () => {
    const { engine } = t;
    const net = uniq('dnsnames');
    await engine.networks.create({ Name: net });
    const name = uniq('named');
    const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['true'], HostConfig: { NetworkMode: net }, NetworkingConfig: { EndpointsConfig: { [net]: { Aliases: ['db', 'primary'] } } } }, { name });
    expect((await engine.containers.inspect(Id)).NetworkSettings.Networks[net]?.DNSNames).toEqual([name, 'db', 'primary', Id.slice(0, 12)]);
    await engine.containers.remove(Id);
    await engine.networks.remove(net);
  });
});
