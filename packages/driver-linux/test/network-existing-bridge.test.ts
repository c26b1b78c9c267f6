/*
 * A default bridge that is already there when the first container joins (left by an
 * earlier berthd on another root, a reinstall, a new --root): used as it is when its
 * address is the network's; refused with both addresses named, and left alone, when not.
 * Real busybox containers run by LinuxDriver with the CniNetworkManager.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBusyboxRootfs } from '@berth/fixtures';
import type { LogEntry } from '@berth/runtime';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LinuxDriver } from '../src/index.js';
import { CniNetworkManager } from '../src/network/index.js';
import { parseCidr } from '../src/network/ipv4.js';
import { runCommand, runChecked } from '../src/network/run-command.js';
import { findLeftovers, freeSubnet, uniqueBridge } from '../src/network/test-support.js';

const isRoot = process.getuid?.() === 0;
const CI = process.env.CI === 'true';

const used = { bridges: [] as string[], containerIds: [] as string[], subnets: [] as string[], netnsDirs: [] as string[] };
let base: string;
let n = 0;
const live: { driver: LinuxDriver; manager: CniNetworkManager }[] = [];

/** A driver + manager on their own state dirs whose default network is `bridge` with `subnet`. */
function stack(bridge: string, subnet: string): { driver: LinuxDriver; manager: CniNetworkManager } {
  const dir = join(base, `stack-${n++}`);
  used.netnsDirs.push(join(dir, 'netns'));
  const manager = new CniNetworkManager({ stateDir: join(dir, 'net'), netnsDir: join(dir, 'netns'), defaultNetwork: { name: 'exdefault', bridge, subnet } });
  const driver = new LinuxDriver({ stateDir: join(dir, 'state'), network: manager });
  live.push({ driver, manager });
  return { driver, manager };
}

/** Runs `sh -c script` in a busybox container on the default network; its output. */
async function runOnNetwork(driver: LinuxDriver, script: string): Promise<{ exitCode: number; out: string }> {
  const id = `dlbr-${n++}-${Math.random().toString(16).slice(2, 8)}`;
  used.containerIds.push(id);
  const rootfs = join(base, `rootfs-${id}`);
  await buildBusyboxRootfs(rootfs);
  await driver.create({ id, rootfs: { path: rootfs }, process: { args: ['sh', '-c', script] }, network: { mode: 'bridge' } });
  try {
    await driver.start(id);
    const { exitCode } = await driver.wait(id);
    const entries: LogEntry[] = [];
    for await (const e of driver.logs(id)) entries.push(e);
    return { exitCode, out: Buffer.concat(entries.map((e) => e.data)).toString('utf8') };
  } finally {
    await driver.delete(id, { force: true });
  }
}

async function addresses(bridge: string): Promise<string[]> {
  const [link] = JSON.parse(await runChecked('ip', ['-j', '-4', 'addr', 'show', 'dev', bridge])) as { addr_info: { local: string; prefixlen: number }[] }[];
  return (link?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
}

/** `ip link add NAME type bridge; ip addr add ADDR dev NAME`, as a leftover would be. */
async function precreate(bridge: string, addr: string): Promise<void> {
  used.bridges.push(bridge);
  await runChecked('ip', ['link', 'add', bridge, 'type', 'bridge']);
  await runChecked('ip', ['addr', 'add', addr, 'dev', bridge]);
  await runChecked('ip', ['link', 'set', bridge, 'up']);
}

describe.runIf(isRoot || CI)('a default bridge that already exists', () => {
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'berth-dlbr-'));
    await chmod(base, 0o755);
  });
  afterEach(async () => {
    for (const { driver, manager } of live.splice(0)) {
      await driver.close();
      for (const net of await manager.listNetworks()) await manager.removeNetwork(net.name).catch(() => undefined);
    }
    for (const b of used.bridges) await runCommand('ip', ['link', 'del', b]);
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
    expect(await findLeftovers(used)).toEqual({ links: [], netns: [], rules: [] });
  });

  it('with the network address: the first container joins it and reaches the gateway', async () => {
    const bridge = uniqueBridge();
    const subnet = await freeSubnet();
    used.subnets.push(subnet);
    const gateway = subnet.replace(/\.0\/24$/, '.1');
    await precreate(bridge, `${gateway}/24`);
    const { driver } = stack(bridge, subnet);
    const r = await runOnNetwork(driver, `ip -4 -o addr show eth0 | awk '{print $4}'; ping -c 1 -W 2 ${gateway} >/dev/null && echo gw-ok`);
    expect(r.exitCode).toBe(0);
    const [ip, gw] = r.out.trim().split('\n');
    expect(parseCidr(ip ?? '', 'ip', false).prefixLen).toBe(24);
    expect(ip?.startsWith(subnet.replace(/0\/24$/, ''))).toBe(true);
    expect(gw).toBe('gw-ok');
    // used as it was: one address, not a second one next to it
    expect(await addresses(bridge)).toEqual([`${gateway}/24`]);
  });

  it('with another address: a clear Conflict naming both, the bridge untouched, nothing half made', async () => {
    const bridge = uniqueBridge();
    const subnet = await freeSubnet();
    const other = await freeSubnet();
    used.subnets.push(subnet, other);
    const present = other.replace(/\.0\/24$/, '.1/24');
    const wanted = subnet.replace(/\.0\/24$/, '.1/24');
    await precreate(bridge, present);
    const { driver, manager } = stack(bridge, subnet);
    const err = await runOnNetwork(driver, 'true').then(() => undefined, (e: unknown) => e as Error & { code?: string });
    expect(err?.message).toBe(
      `bridge ${bridge} already exists with address ${present}, not ${wanted}: delete it (ip link del ${bridge}) or set "bip" (or "bridge") in daemon.json to match`,
    );
    expect(err?.code).toBe('Conflict');
    expect(await addresses(bridge)).toEqual([present]);
    expect(await manager.listNetworks()).toEqual([]);
    // the same answer the second time: nothing was deleted to make it work by accident
    await expect(runOnNetwork(driver, 'true')).rejects.toThrow(`already exists with address ${present}`);
    expect(await addresses(bridge)).toEqual([present]);
  });

  it("two managers (two daemons on other roots) with one bridge name: the second one's first container works", async () => {
    const bridge = uniqueBridge();
    const subnet = await freeSubnet();
    used.bridges.push(bridge);
    used.subnets.push(subnet);
    const first = stack(bridge, subnet);
    expect((await runOnNetwork(first.driver, 'echo one')).out).toBe('one\n');
    const second = stack(bridge, subnet);
    expect((await runOnNetwork(second.driver, 'echo two')).out).toBe('two\n');
    expect((await runOnNetwork(first.driver, 'echo one again')).out).toBe('one again\n');
  });
});
