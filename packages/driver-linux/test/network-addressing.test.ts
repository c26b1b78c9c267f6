/*
 * Network addressing as Docker offers it, against the real CNI plugins: any network name,
 * IPRange and AuxiliaryAddresses, an IPv6 prefix beside the IPv4 subnet (fixed and
 * dynamic IPv6 addresses, the IPv6 default route), and a fixed MAC per endpoint.
 * Containers are namespaces attached by the manager; their addresses are read with `ip`.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CniNetworkManager } from '../src/network/index.js';
import { runCommand } from '../src/network/run-command.js';
import { execInNetns, findLeftovers, freeSubnet, uniqueBridge, uniqueId } from '../src/network/test-support.js';

const isRoot = process.getuid?.() === 0;
const used = { bridges: [] as string[], containerIds: [] as string[], subnets: [] as string[], netnsDirs: [] as string[] };
let dir: string;
let manager: CniNetworkManager;

function cid(): string {
  const id = uniqueId('addr');
  used.containerIds.push(id);
  return id;
}

/** A unique-local /64 (fd00::/8) no other test uses. */
/** A random ULA /64 written canonically (no leading zeros in a group), as the driver prints it back. */
function prefix6(): string {
  const group = (): string => randomInt(0x1000, 0x10000).toString(16);
  return `fd${randomInt(0x10, 0x100).toString(16)}:${group()}:${group()}::/64`;
}

async function addresses(netns: string): Promise<{ mac: string; v4: string[]; v6: string[] }> {
  const r = await execInNetns(netns, ['ip', '-j', 'addr', 'show', 'dev', 'eth0']);
  const [link] = JSON.parse(r.stdout) as { address: string; addr_info: { family: string; local: string; prefixlen: number; scope: string }[] }[];
  const of = (fam: string) => (link?.addr_info ?? []).filter((a) => a.family === fam && a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`);
  return { mac: link?.address ?? '', v4: of('inet'), v6: of('inet6') };
}

describe.skipIf(!isRoot)('network addressing (IPRange, auxiliary addresses, IPv6, MAC)', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-net-addr-'));
    used.netnsDirs.push(join(dir, 'netns'));
    const bridge = uniqueBridge();
    const subnet = await freeSubnet();
    used.bridges.push(bridge);
    used.subnets.push(subnet);
    manager = new CniNetworkManager({ stateDir: join(dir, 'state'), netnsDir: join(dir, 'netns'), defaultNetwork: { name: 'addrdefault', bridge, subnet }, dns: false });
  });

  afterAll(async () => {
    for (const id of used.containerIds) await manager.detach(id).catch(() => undefined);
    for (const n of await manager.listNetworks()) await manager.removeNetwork(n.name).catch(() => undefined);
    expect(await findLeftovers(used)).toEqual({ links: [], netns: [], rules: [] });
    await rm(dir, { recursive: true, force: true });
  });

  it('takes any name Docker takes, allocates inside IPRange only, never an auxiliary address', async () => {
    const bridge = uniqueBridge();
    const subnet = await freeSubnet(); // x.y.z.0/24
    used.bridges.push(bridge);
    used.subnets.push(subnet);
    const base = subnet.split('.').slice(0, 3).join('.');
    const name = `test 01/${randomBytes(3).toString('hex')}`;
    const net = await manager.createNetwork({ name, bridge, subnet, gateway: `${base}.254`, ipRange: `${base}.16/28`, auxAddresses: [`${base}.17`, `${base}.18`] });
    expect(net).toMatchObject({ name, ipRange: `${base}.16/28`, auxAddresses: [`${base}.17`, `${base}.18`], gateway: `${base}.254` });
    expect((await manager.listNetworks()).map((n) => n.name)).toContain(name);

    const a = await manager.attach(cid(), { mode: 'bridge', networks: [{ name }] });
    const b = await manager.attach(cid(), { mode: 'bridge', networks: [{ name }] });
    // .16 is the range's own network address, .17 and .18 are kept back
    expect(a.interfaces[0]?.ip).toBe(`${base}.19`);
    expect(b.interfaces[0]?.ip).toBe(`${base}.20`);
    // a fixed address may lie outside the range, as in Docker
    const c = await manager.attach(cid(), { mode: 'bridge', networks: [{ name, ipv4Address: `${base}.100` }] });
    expect(c.interfaces[0]?.ip).toBe(`${base}.100`);
    expect((await addresses(c.netnsPath!)).v4).toEqual([`${base}.100/24`]);

    await expect(manager.removeNetwork(name)).rejects.toThrow(/active endpoints/);
    for (const id of used.containerIds) await manager.detach(id);
    await manager.removeNetwork(name);
    expect((await manager.listNetworks()).map((n) => n.name)).not.toContain(name);
  });

  it('gives containers IPv6 addresses from the prefix, a fixed one on request, and the IPv6 default route', async () => {
    const bridge = uniqueBridge();
    const subnet = await freeSubnet();
    used.bridges.push(bridge);
    used.subnets.push(subnet);
    const p6 = prefix6();
    const stem = p6.replace('::/64', '');
    const net = await manager.createNetwork({ name: `v6-${randomBytes(3).toString('hex')}`, bridge, subnet, subnet6: p6, gateway6: `${stem}::ffff`, ipRange6: `${stem}::/96` });
    expect(net).toMatchObject({ subnet6: p6, gateway6: `${stem}::ffff`, ipRange6: `${stem}::/96` });
    const bridgeAddrs = JSON.parse((await runCommand('ip', ['-j', '-6', 'addr', 'show', 'dev', bridge])).stdout) as { addr_info: { local: string }[] }[];
    expect(bridgeAddrs[0]?.addr_info.map((a) => a.local)).toContain(`${stem}::ffff`);

    const fixedId = cid();
    const fixed = await manager.attach(fixedId, { mode: 'bridge', networks: [{ name: net.name, ipv6Address: `${stem}::f00d`, mac: '02:42:ac:11:00:0a' }] });
    expect(fixed.interfaces[0]).toMatchObject({ ip6: `${stem}::f00d`, prefixLen6: 64, gateway6: `${stem}::ffff`, mac: '02:42:ac:11:00:0a' });
    const seen = await addresses(fixed.netnsPath!);
    expect(seen.mac).toBe('02:42:ac:11:00:0a');
    expect(seen.v6).toEqual([`${stem}::f00d/64`]);
    const routes = await execInNetns(fixed.netnsPath!, ['ip', '-6', 'route', 'show', 'default']);
    expect(routes.stdout).toContain(`via ${stem}::ffff`);

    const dyn = await manager.attach(cid(), { mode: 'bridge', networks: [{ name: net.name }] });
    // host-local hands out addresses after the last one it gave (Docker: the lowest free one)
    expect(dyn.interfaces[0]?.ip6).toMatch(new RegExp(`^${stem}::[0-9a-f]{1,4}$`));
    expect(dyn.interfaces[0]?.ip6).not.toBe(`${stem}::f00d`);
    // the two reach each other over IPv6 (bounded retry: duplicate address detection may still run)
    let ok = false;
    for (let i = 0; i < 30 && !ok; i++) {
      ok = (await execInNetns(dyn.netnsPath!, ['/bin/busybox', 'ping', '-6', '-c', '1', '-W', '1', `${stem}::f00d`])).code === 0;
      if (!ok) await new Promise((r) => setTimeout(r, 200));
    }
    expect(ok).toBe(true);

    await expect(manager.attach(cid(), { mode: 'bridge', networks: [{ name: net.name, ipv6Address: `${stem}::f00d` }] })).rejects.toThrow(/already in use/);
    const details = await manager.inspectNetwork(net.name);
    expect(details.containers.find((c) => c.containerId === fixedId)).toMatchObject({ ip6: `${stem}::f00d`, prefixLen6: 64, mac: '02:42:ac:11:00:0a' });
    for (const id of used.containerIds) await manager.detach(id);
    await manager.removeNetwork(net.name);
  });

  it('connects a running container with a fixed IPv6 address and MAC', async () => {
    const bridge = uniqueBridge();
    const subnet = await freeSubnet();
    used.bridges.push(bridge);
    used.subnets.push(subnet);
    const p6 = prefix6();
    const stem = p6.replace('::/64', '');
    const net = await manager.createNetwork({ name: `v6c-${randomBytes(3).toString('hex')}`, bridge, subnet, subnet6: p6 });
    expect(net.gateway6).toBe(`${stem}::1`);
    const id = cid();
    const att = await manager.attach(id, { mode: 'bridge' });
    const iface = await manager.connect(id, { name: net.name, ipv6Address: `${stem}::beef`, mac: '02:42:ac:11:00:02' });
    expect(iface).toMatchObject({ ifname: 'eth1', ip6: `${stem}::beef`, mac: '02:42:ac:11:00:02' });
    const eth1 = JSON.parse((await execInNetns(att.netnsPath!, ['ip', '-j', 'addr', 'show', 'dev', 'eth1'])).stdout) as { address: string; addr_info: { local: string }[] }[];
    expect(eth1[0]?.address).toBe('02:42:ac:11:00:02');
    expect(eth1[0]?.addr_info.map((a) => a.local)).toContain(`${stem}::beef`);
    await manager.disconnect(id, net.name);
    await manager.detach(id);
    await manager.removeNetwork(net.name);
  });

  it('refuses an IPv6 address on a network without a prefix and a range outside the subnet', async () => {
    const subnet = await freeSubnet();
    await expect(manager.createNetwork({ name: 'bad-range', bridge: uniqueBridge(), subnet, ipRange: '192.0.2.0/28' })).rejects.toThrow(/not inside subnet/);
    await expect(manager.createNetwork({ name: 'bad-v6', bridge: uniqueBridge(), subnet, subnet6: 'fd00::1/64' })).rejects.toThrow(/host bits/);
  });
});
