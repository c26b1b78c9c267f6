/*
 * End to end: real busybox containers run by LinuxDriver (crun under conmon) with the
 * CniNetworkManager doing bridge networking and port publishing.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBusyboxRootfs } from '@berth/fixtures';
import type { ContainerSpec, LogEntry } from '@berth/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinuxDriver } from '../src/index.js';
import { CniNetworkManager } from '../src/network/index.js';
import { findLeftovers, freePort, freeSubnet, httpGetEventually, uniqueBridge } from '../src/network/test-support.js';

const isRoot = process.getuid?.() === 0;
const CI = process.env.CI === 'true';

const used = { bridges: [] as string[], containerIds: [] as string[], subnets: [] as string[], netnsDirs: [] as string[] };
let base: string;
let manager: CniNetworkManager;
let driver: LinuxDriver;
let rootfsCount = 0;

function cid(tag: string): string {
  const id = `dlnet-${tag}-${randomBytes(4).toString('hex')}`;
  used.containerIds.push(id);
  return id;
}

/** A fresh busybox rootfs with /www/index.html saying `text`. */
async function rootfsServing(text: string): Promise<ContainerSpec['rootfs']> {
  const dir = join(base, `rootfs-${rootfsCount++}`);
  await buildBusyboxRootfs(dir);
  await mkdir(join(dir, 'www'), { recursive: true });
  await writeFile(join(dir, 'www', 'index.html'), text);
  return { path: dir };
}

async function logText(id: string): Promise<string> {
  const entries: LogEntry[] = [];
  for await (const e of driver.logs(id)) entries.push(e);
  return Buffer.concat(entries.map((e) => e.data)).toString();
}

const httpd = { args: ['httpd', '-f', '-p', '80', '-h', '/www'] };

describe.runIf(isRoot || CI)('LinuxDriver with CNI networking', () => {
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'berth-dlnet-'));
    await chmod(base, 0o755);
    const bridge = uniqueBridge();
    const subnet = await freeSubnet();
    used.bridges.push(bridge);
    used.subnets.push(subnet);
    used.netnsDirs.push(join(base, 'netns'));
    manager = new CniNetworkManager({ stateDir: join(base, 'net'), netnsDir: join(base, 'netns'), defaultNetwork: { name: 'e2edefault', bridge, subnet } });
    driver = new LinuxDriver({ stateDir: join(base, 'state'), network: manager });
  });

  afterAll(async () => {
    for (const id of used.containerIds) await driver.delete(id, { force: true }).catch(() => undefined);
    await driver.close();
    for (const id of used.containerIds) await manager.detach(id).catch(() => undefined);
    for (const n of await manager.listNetworks()) await manager.removeNetwork(n.name).catch(() => undefined);
    await rm(base, { recursive: true, force: true });
  });

  it('publishes a busybox httpd container on 127.0.0.1:<free>', async () => {
    const id = cid('web');
    const hostPort = await freePort();
    await driver.create({
      id,
      rootfs: await rootfsServing('served by a container\n'),
      process: httpd,
      network: { mode: 'bridge', ports: [{ hostIp: '127.0.0.1', hostPort, containerPort: 80, protocol: 'tcp' }] },
    });
    await driver.start(id);
    expect(await httpGetEventually(`http://127.0.0.1:${hostPort}/`)).toBe('served by a container\n');
    await driver.delete(id, { force: true });
    const net = await manager.inspectNetwork('e2edefault');
    expect(net.containers).toEqual([]);
    expect(await findLeftovers({ bridges: [], containerIds: [id], subnets: [], netnsDirs: [join(base, 'netns')] })).toEqual({ links: [], netns: [], rules: [] });
  });

  it('releaseNetwork gives the namespace, address and host port of a stopped run back; its log stays; the run cannot start again', async () => {
    const id = cid('released');
    const hostPort = await freePort();
    await driver.create({
      id,
      rootfs: await rootfsServing('first\n'),
      process: { args: ['sh', '-c', 'echo ran; exit 2'] },
      network: { mode: 'bridge', ports: [{ hostIp: '127.0.0.1', hostPort, containerPort: 80, protocol: 'tcp' }] },
    });
    await expect(driver.releaseNetwork(id)).rejects.toMatchObject({ code: 'Conflict' });
    await driver.start(id);
    expect(await driver.wait(id)).toMatchObject({ exitCode: 2 });
    expect((await manager.inspectNetwork('e2edefault')).containers.map((c) => c.containerId)).toContain(id);
    await driver.releaseNetwork(id);
    await driver.releaseNetwork(id);
    expect((await manager.inspectNetwork('e2edefault')).containers.map((c) => c.containerId)).not.toContain(id);
    const leftovers = () => findLeftovers({ bridges: [], containerIds: [id], subnets: [], netnsDirs: [join(base, 'netns')] });
    // the port's rules are gone when releaseNetwork returns; the namespace (and the veth the
    // kernel takes with it) goes right after, in the background
    expect((await leftovers()).rules).toEqual([]);
    await manager.cleanupsSettled();
    expect(await leftovers()).toEqual({ links: [], netns: [], rules: [] });
    expect(await logText(id)).toBe('ran\n');
    expect(await driver.state(id)).toMatchObject({ status: 'stopped', exitCode: 2 });
    await expect(driver.start(id)).rejects.toMatchObject({ code: 'Conflict' });

    // the host port is free for another container at once
    const other = cid('taker');
    await driver.create({
      id: other,
      rootfs: await rootfsServing('second\n'),
      process: httpd,
      network: { mode: 'bridge', ports: [{ hostIp: '127.0.0.1', hostPort, containerPort: 80, protocol: 'tcp' }] },
    });
    await driver.start(other);
    expect(await httpGetEventually(`http://127.0.0.1:${hostPort}/`)).toBe('second\n');
    await driver.delete(other, { force: true });
    await driver.delete(id);
  });

  it('lets two containers on a user network reach each other by IP', async () => {
    const bridge = uniqueBridge();
    const subnet = await freeSubnet();
    used.bridges.push(bridge);
    used.subnets.push(subnet);
    await manager.createNetwork({ name: 'e2enet', bridge, subnet });
    const server = cid('srv');
    await driver.create({ id: server, rootfs: await rootfsServing('hello neighbour\n'), process: httpd, network: { mode: 'bridge', networks: [{ name: 'e2enet' }] } });
    await driver.start(server);
    const ip = (await manager.inspectNetwork('e2enet')).containers.find((c) => c.containerId === server)?.ip;
    expect(ip).toBeTruthy();

    const client = cid('cli');
    // Bounded retry inside: httpd may need a moment to listen.
    const script = `for i in $(seq 1 30); do wget -q -O- http://${ip}/ && exit 0; sleep 0.2; done; exit 1`;
    await driver.create({ id: client, rootfs: await rootfsServing(''), process: { args: ['sh', '-c', script] }, network: { mode: 'bridge', networks: [{ name: 'e2enet' }] } });
    await driver.start(client);
    const status = await driver.wait(client);
    const out = await logText(client);
    expect({ exitCode: status.exitCode, out }).toEqual({ exitCode: 0, out: 'hello neighbour\n' });
    await driver.delete(client, { force: true });
    await driver.delete(server, { force: true });
    await manager.removeNetwork('e2enet');
    expect(await findLeftovers({ bridges: [bridge], containerIds: [server, client], subnets: [subnet], netnsDirs: [join(base, 'netns')] })).toEqual({ links: [], netns: [], rules: [] });
  });

  it("the container's first process already sees its address in /etc/hosts and on eth0 (CNI runs while the runtime creates)", async () => {
    const id = cid('first');
    const script = 'grep firstlook /etc/hosts; ip -4 addr show eth0 | grep -o "inet [0-9.]*"';
    await driver.create({ id, hostname: 'firstlook', rootfs: await rootfsServing(''), process: { args: ['sh', '-c', script] }, network: { mode: 'bridge' } });
    const ip = (await manager.inspectNetwork('e2edefault')).containers.find((c) => c.containerId === id)?.ip;
    expect(ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    await driver.start(id);
    expect((await driver.wait(id)).exitCode).toBe(0);
    expect(await logText(id)).toBe(`${ip}\tfirstlook\ninet ${ip}\n`);
    await driver.delete(id, { force: true });
  });

  it('a CNI plugin failing after the namespace exists (the runtime creating meanwhile) leaves nothing behind', async () => {
    const { readdir, stat } = await import('node:fs/promises');
    const bridge = uniqueBridge();
    // a /30: the gateway and one container; host-local has no address for a second one,
    // and it runs (inside the bridge plugin) only after the namespace was made
    const subnet = (await freeSubnet()).replace(/\/24$/, '/30');
    used.bridges.push(bridge);
    used.subnets.push(subnet);
    await manager.createNetwork({ name: 'e2efull', bridge, subnet });
    const rootfs = await rootfsServing('');
    const holder = cid('holder');
    await driver.create({ id: holder, rootfs, process: { args: ['true'] }, network: { mode: 'bridge', networks: [{ name: 'e2efull' }] } });
    const id = cid('noaddr');
    await expect(driver.create({ id, rootfs, process: { args: ['true'] }, network: { mode: 'bridge', networks: [{ name: 'e2efull' }] } })).rejects.toThrow(/no IP addresses available/);
    await expect(driver.state(id)).rejects.toMatchObject({ code: 'NotFound' });
    expect(await manager.netnsPathOf(id)).toBeUndefined();
    await expect(stat(join(base, 'netns', id))).rejects.toThrow(/ENOENT/);
    await expect(stat(join(base, 'state', 'runtime', id))).rejects.toThrow(/ENOENT/);
    expect(await readdir(join(base, 'state', 'containers'))).not.toContain(id);
    await driver.delete(holder, { force: true });
    await manager.removeNetwork('e2efull');
    expect(await findLeftovers({ bridges: [bridge], containerIds: [holder, id], subnets: [subnet], netnsDirs: [join(base, 'netns')] })).toEqual({ links: [], netns: [], rules: [] });
  });

  it('a create that fails while the network attaches (or the attach itself fails) leaves nothing behind', async () => {
    const { readdir, stat } = await import('node:fs/promises');
    const rootfs = await rootfsServing('unused\n');
    // the attach succeeds, the user lookup fails meanwhile: the attach is undone
    const ghost = cid('ghost');
    await expect(driver.create({ id: ghost, rootfs, process: { args: ['true'], user: 'ghost' }, network: { mode: 'bridge' } })).rejects.toMatchObject({ code: 'NotFound' });
    // the attach fails: nothing was created
    const nonet = cid('nonet');
    await expect(driver.create({ id: nonet, rootfs, process: { args: ['true'] }, network: { mode: 'bridge', networks: [{ name: `nosuch${randomBytes(3).toString('hex')}` }] } })).rejects.toMatchObject({ code: 'NotFound' });
    for (const id of [ghost, nonet]) {
      await expect(driver.state(id)).rejects.toMatchObject({ code: 'NotFound' });
      expect(await manager.netnsPathOf(id)).toBeUndefined();
      await expect(stat(join(base, 'netns', id))).rejects.toThrow(/ENOENT/);
      await expect(stat(join(base, 'state', 'runtime', id))).rejects.toThrow(/ENOENT/);
      expect(await readdir(join(base, 'state', 'containers'))).not.toContain(id);
    }
    // a good create afterwards still gets its network (nothing stale holds the id or address)
    const ok = cid('after');
    await driver.create({ id: ok, rootfs, process: { args: ['sh', '-c', 'ip -4 addr show eth0 | grep -q inet && echo has-ip'] }, network: { mode: 'bridge' } });
    await driver.start(ok);
    expect((await driver.wait(ok)).exitCode).toBe(0);
    expect(await logText(ok)).toContain('has-ip');
    await driver.delete(ok);
    expect(await manager.netnsPathOf(ok)).toBeUndefined();
  });

  it('left no netns, veth, bridge or iptables rule behind', async () => {
    await manager.removeNetwork('e2edefault');
    expect(await findLeftovers(used)).toEqual({ links: [], netns: [], rules: [] });
  });
});
