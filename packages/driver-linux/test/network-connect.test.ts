/*
 * Connect/disconnect of running containers and the embedded DNS on user networks:
 * real busybox containers run by LinuxDriver (crun under conmon), the CniNetworkManager
 * with the real CNI plugins, busybox ping/nslookup/wget run inside the containers (their
 * mount and network namespaces, so their own /etc/resolv.conf and /etc/hosts).
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBusyboxRootfs } from '@berth/fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinuxDriver } from '../src/index.js';
import { CniNetworkManager } from '../src/network/index.js';
import { findLeftovers, freeSubnet, uniqueBridge } from '../src/network/test-support.js';
import { runCommand } from '../src/network/run-command.js';
import { buildResponse, parseQuery, RCODE_NOERROR, RCODE_NXDOMAIN } from '../src/network/dns/wire.js';

const isRoot = process.getuid?.() === 0;
const CI = process.env.CI === 'true';

const used = { bridges: [] as string[], containerIds: [] as string[], subnets: [] as string[], netnsDirs: [] as string[] };
let base: string;
let manager: CniNetworkManager;
let driver: LinuxDriver;
const nets: Record<string, { name: string; gateway: string; subnet: string; bridge: string }> = {};
let upstream: Socket;
let upstreamTcp: Server | undefined;
let upstreamIp: string;
let managerOptions: ConstructorParameters<typeof CniNetworkManager>[0];

/** A stand-in for the host's nameserver on a random loopback address, port 53: *.example.test is 192.0.2.7. */
async function startUpstream(): Promise<void> {
  for (let i = 0; ; i++) {
    upstreamIp = `127.${53 + (i % 100)}.${Math.floor(Math.random() * 250) + 1}.${Math.floor(Math.random() * 250) + 1}`;
    upstream = createSocket('udp4');
    upstream.on('message', (msg, r) => {
      const q = parseQuery(msg);
      if (!q) return;
      upstream.send(q.name.endsWith('.example.test') ? buildResponse(msg, q, RCODE_NOERROR, q.type === 1 ? ['192.0.2.7'] : []) : buildResponse(msg, q, RCODE_NXDOMAIN), r.port, r.address);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        upstream.once('error', reject);
        upstream.bind(53, upstreamIp, () => resolve());
      });
      // the same over TCP (two-byte length frames)
      upstreamTcp = createServer((conn) => {
        conn.on('error', () => undefined);
        conn.once('data', (d: Buffer) => {
          const msg = d.subarray(2);
          const q = parseQuery(msg);
          if (!q) return conn.destroy();
          const reply = q.name.endsWith('.example.test') ? buildResponse(msg, q, RCODE_NOERROR, ['192.0.2.8']) : buildResponse(msg, q, RCODE_NXDOMAIN);
          const len = Buffer.alloc(2);
          len.writeUInt16BE(reply.length, 0);
          conn.end(Buffer.concat([len, reply]));
        });
      });
      await new Promise<void>((resolve, reject) => {
        upstreamTcp!.once('error', reject);
        upstreamTcp!.listen(53, upstreamIp, () => resolve());
      });
      return;
    } catch (e) {
      upstream.close();
      if (i >= 5) throw e;
    }
  }
}

function cid(tag: string): string {
  const id = `dlconn-${tag}-${randomBytes(4).toString('hex')}`;
  used.containerIds.push(id);
  return id;
}

async function newNetwork(name: string, internal = false) {
  for (let i = 0; ; i++) {
    const bridge = uniqueBridge();
    const subnet = await freeSubnet();
    used.bridges.push(bridge);
    used.subnets.push(subnet);
    try {
      return await manager.createNetwork({ name, bridge, subnet, internal });
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

/** A DNS A query over TCP: prints `<rcode> <ip,ip...>` (answers are at the message's end, 16 bytes each). */
const TCP_QUERY = `
const net = require('net');
const [gw, name] = process.argv.slice(1);
const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
const q = Buffer.concat([Buffer.from([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])]);
const len = Buffer.alloc(2);
len.writeUInt16BE(q.length);
const c = net.connect(53, gw, () => c.write(Buffer.concat([len, q])));
let b = Buffer.alloc(0);
c.on('data', (d) => {
  b = Buffer.concat([b, d]);
  if (b.length < 2 || b.length < 2 + b.readUInt16BE(0)) return;
  const m = b.subarray(2, 2 + b.readUInt16BE(0));
  const an = m.readUInt16BE(6);
  const ips = [];
  for (let i = 0; i < an; i++) { const o = m.length - 16 * (an - i); ips.push([...m.subarray(o + 12, o + 16)].join('.')); }
  console.log((m.readUInt16BE(2) & 15) + ' ' + ips.join(','));
  c.end();
});
c.on('error', (e) => { console.log('error ' + e.message); process.exit(2); });
setTimeout(() => { console.log('timeout'); process.exit(2); }, 5000).unref();
`;

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
    // Other names go to a stand-in upstream on loopback (nothing leaves the host).
    await startUpstream();
    managerOptions = { stateDir: join(base, 'net'), netnsDir: join(base, 'netns'), defaultNetwork: { name: 'conndefault', bridge, subnet }, dns: { upstreams: [upstreamIp], forwardTimeoutMs: 1000 } };
    manager = new CniNetworkManager(managerOptions);
    driver = new LinuxDriver({ stateDir: join(base, 'state'), network: manager });
    for (const n of ['front', 'back']) nets[n] = await newNetwork(`${n}-${randomBytes(3).toString('hex')}`);
    nets.inner = await newNetwork(`inner-${randomBytes(3).toString('hex')}`, true);
  });

  afterAll(async () => {
    for (const id of used.containerIds) await driver.delete(id, { force: true }).catch(() => undefined);
    await driver.close();
    for (const id of used.containerIds) await manager.detach(id).catch(() => undefined);
    for (const n of await manager.listNetworks()) await manager.removeNetwork(n.name).catch(() => undefined);
    manager.close();
    upstream?.close();
    upstreamTcp?.close();
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
    expect((await inCtr(a, ['nslookup', `bravo.${front.name}`])).stdout).toContain(ipB);
    // reverse: the address names the container on that network
    const ptr = await inCtr(a, ['nslookup', ipB]);
    expect(ptr.stdout, ptr.stdout + ptr.stderr).toContain(`name = bravo.${front.name}`);
    // not across networks, not on the default network
    expect((await inCtr(c, ['nslookup', 'bravo'])).code).not.toBe(0);
    expect((await inCtr(d, ['nslookup', 'bravo', front.gateway])).code).not.toBe(0);
    expect((await inCtr(a, ['ping', '-c1', '-W2', 'charlie'])).code).not.toBe(0);

    // connect a running container: eth1 on `back`, a reaches charlie by name
    const bridgeMac = async () => (JSON.parse((await runCommand('ip', ['-j', 'link', 'show', 'dev', back.bridge])).stdout) as { address: string }[])[0]?.address;
    const macBefore = await bridgeMac();
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
    // the gateway's MAC stays put while veths come and go (containers' ARP entries stay valid)
    expect(await bridgeMac()).toBe(macBefore);

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
    // (the kernel destroys the veths of a removed namespace in the background: bounded wait)
    const enslaved = async () => (JSON.parse((await runCommand('ip', ['-j', 'link', 'show'])).stdout) as { ifname: string; master?: string }[]).filter((l) => l.master && [front.bridge, back.bridge].includes(l.master));
    for (let i = 0; i < 40 && (await enslaved()).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await enslaved()).toEqual([]);
  });

  it("keeps resolv.conf pointing at a user network's DNS across connect and disconnect", async () => {
    const front = nets.front!;
    const back = nets.back!;
    const resolv = (id: string) => readFile(join(base, 'state', 'containers', id, 'resolv.conf'), 'utf8');
    const d = await runSleeper('india');
    const k = await runSleeper('kilo', [{ name: front.name }]);
    const l = await runSleeper('lima', [{ name: back.name }]);
    const hostServers = (await resolv(d)).split('\n').filter((x) => x.startsWith('nameserver'));
    // default network only, then connected to a user network: its names resolve
    await manager.connect(d, { name: front.name });
    expect((await resolv(d)).split('\n').filter((x) => x.startsWith('nameserver'))[0]).toBe(`nameserver ${front.gateway}`);
    const r = await inCtr(d, ['nslookup', 'kilo']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await manager.disconnect(d, front.name);
    expect((await resolv(d)).split('\n').filter((x) => x.startsWith('nameserver'))).toEqual(hostServers);
    // the first user network goes, the next one serves
    await manager.connect(k, { name: back.name });
    await manager.disconnect(k, front.name);
    expect(await resolv(k)).toContain(`nameserver ${back.gateway}`);
    expect(await resolv(k)).not.toContain(`nameserver ${front.gateway}`);
    const r2 = await inCtr(k, ['nslookup', 'lima']);
    expect(r2.code, r2.stdout + r2.stderr).toBe(0);
    for (const id of [d, k, l]) await driver.delete(id, { force: true });
  });

  it('forwards other names to the upstream nameserver; answers and forwards over TCP too', async () => {
    const a = await runSleeper('echo', [{ name: nets.front!.name }]);
    const b = await runSleeper('foxtrot', [{ name: nets.front!.name }]);
    const r = await inCtr(a, ['nslookup', 'www.example.test']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('192.0.2.7');
    expect((await inCtr(a, ['nslookup', 'nothing.invalid'])).stdout + '').not.toContain('192.0.2.7');
    // TCP (what a client does after a truncated UDP answer), from a's network namespace
    const { pid } = await driver.state(a);
    const tcpQuery = async (name: string) => (await runCommand('nsenter', [`--target=${pid}`, '--net', process.execPath, '-e', TCP_QUERY, nets.front!.gateway, name], { timeoutMs: 15_000 })).stdout.trim();
    const ipB = (await manager.inspectNetwork(nets.front!.name)).containers.find((c) => c.containerId === b)!.ip;
    expect(await tcpQuery('foxtrot')).toBe(`0 ${ipB}`);
    expect(await tcpQuery('mail.example.test')).toBe('0 192.0.2.8');
    expect(await tcpQuery('nothing.invalid')).toBe('3');
    // a container only on an internal network resolves its peers but nothing outside (Docker, CVE-2024-29018)
    const i1 = await runSleeper('juliet', [{ name: nets.inner!.name }]);
    const i2 = await runSleeper('kappa', [{ name: nets.inner!.name }]);
    const peer = await inCtr(i1, ['nslookup', 'kappa']);
    expect(peer.code, peer.stdout + peer.stderr).toBe(0);
    const out = await inCtr(i1, ['nslookup', 'www.example.test']);
    expect(out.code).not.toBe(0);
    expect(out.stdout).not.toContain('192.0.2.7');
    for (const id of [a, b, i1, i2]) await driver.delete(id, { force: true });
  });

  it('a new manager on the same state serves the containers that kept running (daemon restart)', async () => {
    const e = await runSleeper('golf', [{ name: nets.front!.name }]);
    const f = await runSleeper('hotel', [{ name: nets.front!.name, aliases: ['h'] }]);
    manager.close();
    expect(manager.dnsListening()).toEqual([]);
    const again = new CniNetworkManager(managerOptions);
    try {
      await again.restoreDns();
      expect(again.dnsListening()).toEqual([nets.front!.gateway]);
      const r = await inCtr(e, ['nslookup', 'h']);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain((await again.inspectNetwork(nets.front!.name)).containers.find((c) => c.containerId === f)!.ip);
    } finally {
      again.close();
    }
    for (const id of [e, f]) await driver.delete(id, { force: true });
    expect(manager.dnsListening()).toEqual([]);
  });

  it('gives a bridge made without a fixed MAC (an earlier Berth) its fixed one at first use', async () => {
    const bridge = uniqueBridge();
    const subnet = await freeSubnet();
    used.bridges.push(bridge);
    used.subnets.push(subnet);
    expect((await runCommand('ip', ['link', 'add', 'name', bridge, 'type', 'bridge'])).code).toBe(0);
    const m = new CniNetworkManager({ stateDir: join(base, 'net-old'), netnsDir: join(base, 'netns'), defaultNetwork: { name: 'olddefault', bridge, subnet }, dns: false });
    const id = cid('old');
    try {
      const r = await m.attach(id, { mode: 'bridge' });
      expect((await readFile(`/sys/class/net/${bridge}/addr_assign_type`, 'utf8')).trim()).toBe('3');
      expect((await readFile(`/sys/class/net/${bridge}/address`, 'utf8')).trim()).toBe(`02:b3:${r.interfaces[0]!.gateway.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join(':')}`);
    } finally {
      await m.detach(id);
      await m.removeNetwork('olddefault');
    }
  });
});
