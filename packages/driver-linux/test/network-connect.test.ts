/*
 * Connect/disconnect of running containers and the embedded DNS on user networks:
 * real busybox containers run by LinuxDriver (crun under conmon), the CniNetworkManager
 * with the real CNI plugins, busybox ping/nslookup/wget run inside the containers (their
 * mount and network namespaces, so their own /etc/resolv.conf and /etc/hosts).
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBusyboxRootfs } from '@berth/fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinuxDriver } from '../src/index.js';
import { CniNetworkManager } from '../src/network/index.js';
import { findLeftovers, freeSubnet, uniqueBridge } from '../src/network/test-support.js';
import { runCommand } from '../src/network/run-command.js';

const isRoot = process.getuid?.() === 0;
const CI = process.env.CI === 'true';

const used = { bridges: [] as string[], containerIds: [] as string[], subnets: [] as string[], netnsDirs: [] as string[] };
let base: string;
let manager: CniNetworkManager;
let driver: LinuxDriver;
const nets: Record<string, { name: string; gateway: string; subnet: string; bridge: string }> = {};

function cid(tag: string): string {
  const id = `dlconn-${tag}-${randomBytes(4).toString('hex')}`;
  used.containerIds.push(id);
  return id;
}

async function newNetwork(name: string) {
  for (let i = 0; ; i++) {
    const bridge = uniqueBridge();
    const subnet = await freeSubnet();
    used.bridges.push(bridge);
    used.subnets.push(subnet);
    try {
      return await manager.createNetwork({ name, bridge, subnet });
    } catch (e) {
      if (i >= 4) throw e;
    }
  }
}

/** A running busybox container sleeping, on `networks` (none: the default network). */
async function runSleeper(tag: string, networks?: { name: string; aliases?: string[] }[]): Promise<string> {
  const id = cid(tag);
  const dir = join(base, `rootfs-${id}`);
  await buildBusyboxRootfs(dir);
  await driver.create({ id, hostname: tag, rootfs: { path: dir }, process: { args: ['sleep', '600'] }, network: { mode: 'bridge', ...(networks ? { networks } : {}) } });
  await driver.start(id);
  return id;
}

/** Runs busybox inside a container's mount + network namespaces (what `docker exec` sees). */
async function inCtr(id: string, args: string[], timeoutMs = 15_000) {
  const { pid } = await driver.state(id);
  return runCommand('nsenter', [`--target=${pid}`, '--mount', '--net', '--root', '--wd', '/bin/busybox', ...args], { timeoutMs });
}

async function leases(network: string): Promise<string[]> {
  const files = await readdir(join(base, 'net', 'ipam', network)).catch(() => [] as string[]);
  return files.filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
}

describe.runIf(isRoot || CI)('running containers: network connect/disconnect and embedded DNS', () => {
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'berth-dlconn-'));
    await chmod(base, 0o755);
    const bridge = uniqueBridge();
    const subnet = await freeSubnet();
    used.bridges.push(bridge);
    used.subnets.push(subnet);
    used.netnsDirs.push(join(base, 'netns'));
    // No upstream: a name that is no container's gets SERVFAIL at once (nothing leaves the host).
    manager = new CniNetworkManager({ stateDir: join(base, 'net'), netnsDir: join(base, 'netns'), defaultNetwork: { name: 'conndefault', bridge, subnet }, dns: { upstreams: [] } });
    driver = new LinuxDriver({ stateDir: join(base, 'state'), network: manager });
    for (const n of ['front', 'back']) nets[n] = await newNetwork(`${n}-${randomBytes(3).toString('hex')}`);
  });

  afterAll(async () => {
    for (const id of used.containerIds) await driver.delete(id, { force: true }).catch(() => undefined);
    await driver.close();
    for (const id of used.containerIds) await manager.detach(id).catch(() => undefined);
    for (const n of await manager.listNetworks()) await manager.removeNetwork(n.name).catch(() => undefined);
    manager.close();
    await rm(base, { recursive: true, force: true });
    expect(await findLeftovers(used)).toEqual({ links: [], netns: [], rules: [] });
  });

  it('resolves names and aliases on a user network, connects and disconnects a running container, and leaks nothing', async () => {
    const front = nets.front!;
    const back = nets.back!;
    const a = await runSleeper('alpha', [{ name: front.name }]);
    const b = await runSleeper('bravo', [{ name: front.name, aliases: ['bee'] }]);
    const c = await runSleeper('charlie', [{ name: back.name }]);
    const d = await runSleeper('delta');
    expect(manager.dnsListening().sort()).toEqual([front.gateway, back.gateway].sort());

    // resolv.conf points at the embedded DNS on user networks only.
    expect(await readFile(join(base, 'state', 'containers', a, 'resolv.conf'), 'utf8')).toContain(`nameserver ${front.gateway}`);
    expect(await readFile(join(base, 'state', 'containers', d, 'resolv.conf'), 'utf8')).not.toContain(front.gateway);

    // by hostname (the driver-level default name), alias and 12-character id; ping and nslookup
    const ping = await inCtr(a, ['ping', '-c1', '-W2', 'bravo']);
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
    const ipB = (await manager.inspectNetwork(front.name)).containers.find((x) => x.containerId === b)!.ip;
    const ns = await inCtr(a, ['nslookup', 'bee']);
    expect(ns.code, ns.stdout + ns.stderr).toBe(0);
    expect(ns.stdout).toContain(ipB);
    expect((await inCtr(a, ['nslookup', b.slice(0, 12)])).stdout).toContain(ipB);
    // not across networks, not on the default network
    expect((await inCtr(c, ['nslookup', 'bravo'])).code).not.toBe(0);
    expect((await inCtr(d, ['nslookup', 'bravo', front.gateway])).code).not.toBe(0);
    expect((await inCtr(a, ['ping', '-c1', '-W2', 'charlie'])).code).not.toBe(0);

    // connect a running container: eth1 on `back`, a reaches charlie by name
    const iface = await manager.connect(a, { name: back.name, aliases: ['alias-on-back'] });
    expect(iface).toMatchObject({ network: back.name, ifname: 'eth1' });
    const links = await inCtr(a, ['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth1']);
    expect(links.stdout).toContain(iface.ip);
    const ping2 = await inCtr(a, ['ping', '-c1', '-W2', 'charlie']);
    expect(ping2.code, ping2.stdout + ping2.stderr).toBe(0);
    expect((await inCtr(c, ['nslookup', 'alias-on-back'])).stdout).toContain(iface.ip);
    expect((await manager.inspectNetwork(back.name)).containers.map((x) => x.containerId).sort()).toEqual([a, c].sort());
    expect(await readFile(join(base, 'state', 'containers', a, 'hosts'), 'utf8')).toContain(`${iface.ip}\talpha`);
    expect(await leases(back.name)).toHaveLength(2);
    await expect(manager.connect(a, { name: back.name })).rejects.toMatchObject({ code: 'Conflict' });

    // disconnect: eth1 and its lease go, the name no longer resolves
    await manager.disconnect(a, back.name);
    expect((await inCtr(a, ['ip', 'link', 'show', 'dev', 'eth1'])).code).not.toBe(0);
    expect((await inCtr(a, ['nslookup', 'charlie'])).code).not.toBe(0);
    expect((await inCtr(c, ['nslookup', 'alias-on-back'])).code).not.toBe(0);
    expect(await leases(back.name)).toHaveLength(1);
    expect(await readFile(join(base, 'state', 'containers', a, 'hosts'), 'utf8')).not.toContain(iface.ip);
    await expect(manager.disconnect(a, back.name)).rejects.toMatchObject({ code: 'NotFound' });

    // connected again, then deleted while connected: detach tears down every attachment
    await manager.connect(a, { name: back.name });
    expect(await leases(back.name)).toHaveLength(2);
    // disconnect of the last network leaves loopback only
    await manager.disconnect(b, front.name);
    const only = await inCtr(b, ['ip', '-o', 'link', 'show']);
    expect(only.stdout.trim().split('\n').map((l) => l.split(':')[1]?.trim())).toEqual(['lo']);

    for (const id of [a, b, c, d]) await driver.delete(id, { force: true });
    expect(await leases(front.name)).toEqual([]);
    expect(await leases(back.name)).toEqual([]);
    expect(manager.dnsListening()).toEqual([]);
    expect(await findLeftovers({ bridges: [], containerIds: [a, b, c, d], subnets: [], netnsDirs: [join(base, 'netns')] })).toEqual({ links: [], netns: [], rules: [] });
    // only the bridges themselves remain until their networks are removed
    const veths = JSON.parse((await runCommand('ip', ['-j', 'link', 'show'])).stdout) as { ifname: string; master?: string }[];
    expect(veths.filter((l) => l.master && [front.bridge, back.bridge].includes(l.master))).toEqual([]);
  });
});
