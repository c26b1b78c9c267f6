/**
 * The network driver conformance suite (vitest): `runNetworkConformanceSuite(name,
 * makeDriver, fixtures)` registers its tests in a `describe` block. Every network and
 * attachment it makes is removed again; the driver is closed at the end (after the
 * default network is removed, so a driver with host state leaves none).
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointAttachment, NetworkDriver } from '../network.js';

export interface NetworkConformanceFixtures {
  /** An IPv4 /24 nothing else uses, one per call. */
  subnet(): Promise<string>;
  /** A unique host-side device name for a network (drivers without devices ignore it). */
  bridge?(): string;
  /**
   * What `name` resolves to as `containerId` (attached as `attachment`) asks its
   * nameserver: the IPv4 addresses, empty when the name does not resolve.
   */
  resolve(driver: NetworkDriver, containerId: string, name: string, attachment: EndpointAttachment): Promise<string[]>;
  /** Whether anything of a detached container is still on the host (a namespace, links). */
  leftover?(driver: NetworkDriver, containerId: string): Promise<boolean>;
}

export type NetworkDriverFactory = () => NetworkDriver | Promise<NetworkDriver>;

function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function inSubnet(ip: string, cidr: string): boolean {
  const [base = '', len = '32'] = cidr.split('/');
  const n = (a: string) => a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(len));
  return Math.floor(n(ip) / size) === Math.floor(n(base) / size);
}

export function runNetworkConformanceSuite(name: string, makeDriver: NetworkDriverFactory, fixtures: NetworkConformanceFixtures): void {
  describe(`network driver conformance: ${name}`, () => {
    let driver: NetworkDriver;
    const attached = new Set<string>();
    const networks = new Set<string>();

    beforeAll(async () => {
      driver = await makeDriver();
    });

    afterAll(async () => {
      for (const id of attached) await driver.detach(id).catch(() => undefined);
      for (const n of networks) await driver.removeNetwork(n).catch(() => undefined);
      await driver.removeNetwork(driver.defaultNetworkName).catch(() => undefined);
      driver.close();
    });

    const tag = randomBytes(3).toString('hex');
    let n = 0;
    const cid = (t: string) => {
      const id = `netconf${t}${randomBytes(6).toString('hex')}`;
      attached.add(id);
      return id;
    };

    async function network(t: string, extra: { internal?: boolean } = {}) {
      const netName = `netconf-${tag}-${t}-${n++}`;
      networks.add(netName);
      const subnet = await fixtures.subnet();
      const info = await driver.createNetwork({ name: netName, subnet, ...(fixtures.bridge ? { bridge: fixtures.bridge() } : {}), ...extra });
      return info;
    }

    async function detach(id: string) {
      await driver.detach(id);
      attached.delete(id);
    }

    it('creates, lists, inspects and removes networks', async () => {
      const net = await network('life', {});
      expect(net.id).toMatch(/^[0-9a-f]{64}$/);
      expect(inSubnet(net.gateway, net.subnet)).toBe(true);
      expect(net.internal).toBe(false);
      expect((await driver.listNetworks()).map((x) => x.name)).toContain(net.name);
      const d = await driver.inspectNetwork(net.name);
      expect(d).toMatchObject({ id: net.id, name: net.name, subnet: net.subnet, gateway: net.gateway, containers: [] });
      await expect(driver.createNetwork({ name: net.name, subnet: await fixtures.subnet() })).rejects.toMatchObject({ code: 'Conflict' });
      await driver.removeNetwork(net.name);
      networks.delete(net.name);
      await expect(driver.inspectNetwork(net.name)).rejects.toMatchObject({ code: 'NotFound' });
      await expect(driver.removeNetwork(net.name)).rejects.toMatchObject({ code: 'NotFound' });
      const internal = await network('int', { internal: true });
      expect(internal.internal).toBe(true);
      expect(internal.labels).toEqual({});
    });

    it('makes the default network once', async () => {
      const a = await driver.ensureDefaultNetwork();
      const b = await driver.ensureDefaultNetwork();
      expect(a.name).toBe(driver.defaultNetworkName);
      expect(b.id).toBe(a.id);
    });

    it('attaches containers with distinct addresses, fixed ones on request, and detaches them', async () => {
      const net = await network('attach');
      const a = cid('a');
      const b = cid('b');
      const ra = await driver.attach(a, { mode: 'bridge', networks: [{ name: net.name, aliases: ['alpha'] }] });
      expect(ra.interfaces).toHaveLength(1);
      expect(ra.interfaces[0]).toMatchObject({ network: net.name, gateway: net.gateway });
      expect(inSubnet(ra.interfaces[0]!.ip, net.subnet)).toBe(true);
      const fixed = net.subnet.replace(/\.0\/\d+$/, '.77');
      const rb = await driver.attach(b, { mode: 'bridge', networks: [{ name: net.name, ipv4Address: fixed }] });
      expect(rb.interfaces[0]!.ip).toBe(fixed);
      expect(rb.interfaces[0]!.ip).not.toBe(ra.interfaces[0]!.ip);
      await expect(driver.attach(a, { mode: 'bridge', networks: [{ name: net.name }] })).rejects.toMatchObject({ code: 'Conflict' });
      const c = cid('c');
      await expect(driver.attach(c, { mode: 'bridge', networks: [{ name: net.name, ipv4Address: fixed }] })).rejects.toMatchObject({ code: 'Conflict' });
      await expect(driver.attach(c, { mode: 'bridge', networks: [{ name: `netconf-${tag}-missing` }] })).rejects.toMatchObject({ code: 'NotFound' });
      const d = await driver.inspectNetwork(net.name);
      expect(d.containers.map((x) => x.containerId).sort()).toEqual([a, b].sort());
      expect(d.containers.find((x) => x.containerId === a)).toMatchObject({ ip: ra.interfaces[0]!.ip, aliases: ['alpha'] });
      await expect(driver.removeNetwork(net.name)).rejects.toMatchObject({ code: 'Conflict' });
      await detach(a);
      await detach(a); // idempotent
      await detach(b);
      expect((await driver.inspectNetwork(net.name)).containers).toEqual([]);
      // the address is free again
      const again = cid('again');
      expect((await driver.attach(again, { mode: 'bridge', networks: [{ name: net.name, ipv4Address: fixed }] })).interfaces[0]!.ip).toBe(fixed);
      await detach(again);
      const none = cid('none');
      expect((await driver.attach(none, { mode: 'none' })).interfaces).toEqual([]);
      await detach(none);
    });

    it('publishes ports: picks a free one for 0, refuses one already published, frees them on detach', async () => {
      const net = await network('ports');
      const fixedPort = await freeTcpPort();
      const a = cid('pa');
      const ra = await driver.attach(a, {
        mode: 'bridge',
        networks: [{ name: net.name }],
        ports: [
          { hostIp: '127.0.0.1', hostPort: fixedPort, containerPort: 80 },
          { hostIp: '127.0.0.1', hostPort: 0, containerPort: 81, protocol: 'tcp' },
        ],
      });
      expect(ra.ports).toHaveLength(2);
      expect(ra.ports[0]).toEqual({ hostIp: '127.0.0.1', hostPort: fixedPort, containerPort: 80, protocol: 'tcp' });
      expect(ra.ports[1]!.hostPort).toBeGreaterThan(0);
      expect(ra.ports[1]!.hostPort).not.toBe(fixedPort);
      const b = cid('pb');
      await expect(driver.attach(b, { mode: 'bridge', networks: [{ name: net.name }], ports: [{ hostPort: fixedPort, containerPort: 8080 }] })).rejects.toMatchObject({ code: 'Conflict' });
      // nothing of the refused attach stays
      expect((await driver.inspectNetwork(net.name)).containers.map((x) => x.containerId)).toEqual([a]);
      await detach(a);
      const rb = await driver.attach(b, { mode: 'bridge', networks: [{ name: net.name }], ports: [{ hostIp: '127.0.0.1', hostPort: fixedPort, containerPort: 8080 }] });
      expect(rb.ports[0]!.hostPort).toBe(fixedPort);
      await detach(b);
    });

    it('refuses a host port asked twice in one attach, and gives two host port 0 mappings distinct ports', async () => {
      const net = await network('portreq');
      const fixedPort = await freeTcpPort();
      const a = cid('pq');
      await expect(
        driver.attach(a, {
          mode: 'bridge',
          networks: [{ name: net.name }],
          ports: [
            { hostIp: '127.0.0.1', hostPort: fixedPort, containerPort: 80 },
            { hostIp: '127.0.0.1', hostPort: fixedPort, containerPort: 81 },
          ],
        }),
      ).rejects.toMatchObject({ code: 'InvalidArgument' });
      expect((await driver.inspectNetwork(net.name)).containers).toEqual([]);
      const ra = await driver.attach(a, {
        mode: 'bridge',
        networks: [{ name: net.name }],
        ports: [
          { hostIp: '127.0.0.1', hostPort: 0, containerPort: 80 },
          { hostIp: '127.0.0.1', hostPort: 0, containerPort: 81 },
        ],
      });
      expect(ra.ports.map((p) => p.containerPort)).toEqual([80, 81]);
      expect(ra.ports[0]!.hostPort).toBeGreaterThan(0);
      expect(ra.ports[1]!.hostPort).not.toBe(ra.ports[0]!.hostPort);
      await detach(a);
    });

    it('connects and disconnects an attached container', async () => {
      const one = await network('c1');
      const two = await network('c2');
      const id = cid('conn');
      await driver.attach(id, { mode: 'bridge', networks: [{ name: one.name }] });
      const iface = await driver.connect(id, { name: two.name, aliases: ['second'] });
      expect(iface.network).toBe(two.name);
      expect(inSubnet(iface.ip, two.subnet)).toBe(true);
      expect((await driver.inspectNetwork(two.name)).containers.find((x) => x.containerId === id)).toMatchObject({ ip: iface.ip, aliases: ['second'] });
      await expect(driver.connect(id, { name: two.name })).rejects.toMatchObject({ code: 'Conflict' });
      await driver.disconnect(id, two.name);
      expect((await driver.inspectNetwork(two.name)).containers).toEqual([]);
      await expect(driver.disconnect(id, two.name)).rejects.toMatchObject({ code: 'NotFound' });
      await expect(driver.connect(cid('ghost'), { name: two.name })).rejects.toMatchObject({ code: 'NotFound' });
      // removable once nobody is on it, while the container stays on the other
      await driver.removeNetwork(two.name);
      networks.delete(two.name);
      expect((await driver.inspectNetwork(one.name)).containers.map((x) => x.containerId)).toEqual([id]);
      await detach(id);
    });

    it('detaches in two phases: ports, address and names are free when a deferred detach returns, the rest goes after', async () => {
      const net = await network('defer');
      const port = await freeTcpPort();
      const fixed = net.subnet.replace(/\.0\/\d+$/, '.88');
      const a = cid('fa');
      const watcher = cid('fw');
      const names: Record<string, string[]> = { [a]: [`gone-${tag}`], [watcher]: [`watch-${tag}`] };
      driver.setContainerNames((id) => names[id]);
      const published = { hostIp: '127.0.0.1', hostPort: port, containerPort: 80 };
      await driver.attach(a, { mode: 'bridge', networks: [{ name: net.name, ipv4Address: fixed, aliases: [`alias-${tag}`] }], ports: [published] });
      const rw = await driver.attach(watcher, { mode: 'bridge', networks: [{ name: net.name }] });
      expect(await fixtures.resolve(driver, watcher, `gone-${tag}`, rw)).toEqual([fixed]);
      await driver.detach(a, { deferCleanup: true });
      attached.delete(a);
      // phase 1 is over: not attached, its names gone, its port and address free for another
      expect((await driver.inspectNetwork(net.name)).containers.map((x) => x.containerId)).toEqual([watcher]);
      expect(await fixtures.resolve(driver, watcher, `gone-${tag}`, rw)).toEqual([]);
      expect(await fixtures.resolve(driver, watcher, `alias-${tag}`, rw)).toEqual([]);
      const b = cid('fb');
      const rb = await driver.attach(b, { mode: 'bridge', networks: [{ name: net.name, ipv4Address: fixed }], ports: [published] });
      expect(rb.interfaces[0]!.ip).toBe(fixed);
      expect(rb.ports[0]!.hostPort).toBe(port);
      // the same id may come back at once (its background part is its own business)
      attached.add(a);
      const again = await driver.attach(a, { mode: 'bridge', networks: [{ name: net.name }] });
      expect(again.interfaces[0]!.ip).not.toBe(fixed);
      await detach(a);
      // a deferred detach of every kind of attachment, then phase 2 settles with nothing left
      const c = cid('fc');
      await driver.attach(c, { mode: 'none' });
      await driver.detach(c, { deferCleanup: true });
      attached.delete(c);
      await driver.detach(b, { deferCleanup: true });
      attached.delete(b);
      await driver.detach(b, { deferCleanup: true }); // idempotent
      await driver.cleanupsSettled?.();
      for (const id of [a, b, c]) expect(await fixtures.leftover?.(driver, id)).not.toBe(true);
      await detach(watcher);
    });

    it('resolves container names and aliases on user networks, as the names hook says', async () => {
      const net = await network('dns');
      const a = cid('da');
      const b = cid('db');
      const names: Record<string, string[] | undefined> = { [a]: [`web-${tag}`], [b]: [`db-${tag}`] };
      driver.setContainerNames((id) => names[id]);
      const ra = await driver.attach(a, { mode: 'bridge', networks: [{ name: net.name }] });
      const rb = await driver.attach(b, { mode: 'bridge', networks: [{ name: net.name, aliases: [`store-${tag}`] }] });
      expect(ra.nameservers?.length).toBeGreaterThan(0);
      const ipB = rb.interfaces[0]!.ip;
      expect(await fixtures.resolve(driver, a, `db-${tag}`, ra)).toEqual([ipB]);
      expect(await fixtures.resolve(driver, a, `store-${tag}`, ra)).toEqual([ipB]);
      expect(await fixtures.resolve(driver, b, `web-${tag}`, rb)).toEqual([ra.interfaces[0]!.ip]);
      // stopped (the hook says undefined): neither its name nor its aliases answer
      names[b] = undefined;
      expect(await fixtures.resolve(driver, a, `db-${tag}`, ra)).toEqual([]);
      expect(await fixtures.resolve(driver, a, `store-${tag}`, ra)).toEqual([]);
      await detach(a);
      await detach(b);
    });
  });
}
