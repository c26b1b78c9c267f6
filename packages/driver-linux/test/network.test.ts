/*
 * CNI networking against the real plugins (/usr/lib/cni), iptables and busybox, as root.
 * Containers are stood in for by processes run inside the attached netns with nsenter.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile, access } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CniNetworkManager } from '../src/network/index.js';
import {
  execInNetns,
  execInNetnsEventually,
  findLeftovers,
  freePort,
  freeSubnet,
  httpGetEventually,
  killChild,
  spawnInNetns,
  uniqueBridge,
  uniqueId,
} from '../src/network/test-support.js';
import { runCommand } from '../src/network/run-command.js';

const CI = process.env.CI === 'true';
const isRoot = process.getuid?.() === 0;

// Every name this file creates, for the final "nothing left behind" test.
const used = { bridges: [] as string[], containerIds: [] as string[], subnets: [] as string[], netnsDirs: [] as string[] };

interface Ctx {
  dir: string;
  manager: CniNetworkManager;
  /** Other managers a test makes (they are torn down too). */
  extra: CniNetworkManager[];
  children: ChildProcess[];
  servers: Server[];
}

let ctx: Ctx;

async function newManager(dir: string): Promise<CniNetworkManager> {
  const bridge = uniqueBridge();
  const subnet = await freeSubnet();
  used.bridges.push(bridge);
  used.subnets.push(subnet);
  used.netnsDirs.push(join(dir, 'netns'));
  return new CniNetworkManager({
    stateDir: join(dir, 'state'),
    netnsDir: join(dir, 'netns'),
    defaultNetwork: { name: 'testdefault', bridge, subnet },
  });
}

/** A user network with a unique bridge and a free random subnet (retried when a parallel test took it). */
async function newNetwork(m: CniNetworkManager, name: string, internal = false) {
  for (let i = 0; ; i++) {
    const bridge = uniqueBridge();
    const subnet = await freeSubnet();
    used.bridges.push(bridge);
    used.subnets.push(subnet);
    try {
      return await m.createNetwork({ name, bridge, subnet, internal });
    } catch (e) {
      if (i >= 4) throw e;
    }
  }
}

function cid(): string {
  const id = uniqueId();
  used.containerIds.push(id);
  return id;
}

async function webRoot(text: string): Promise<string> {
  const root = join(ctx.dir, `www-${uniqueId('')}`);
  await mkdir(root, { recursive: true });
  await writeFile(join(root, 'index.html'), text);
  return root;
}

function httpd(netnsPath: string, root: string): ChildProcess {
  const child = spawnInNetns(netnsPath, ['/bin/busybox', 'httpd', '-f', '-p', '80', '-h', root]);
  ctx.children.push(child);
  return child;
}

async function teardown(m: CniNetworkManager): Promise<void> {
  for (const id of used.containerIds) await m.detach(id).catch(() => undefined);
  for (const n of await m.listNetworks()) await m.removeNetwork(n.name).catch(() => undefined);
}

describe.runIf(isRoot || CI)('CniNetworkManager (real CNI plugins)', () => {
  beforeAll(async () => {
    for (const tool of ['/usr/lib/cni/bridge', '/usr/lib/cni/portmap', '/bin/busybox']) await access(tool);
  });

  beforeEach(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-net-'));
    ctx = { dir, manager: await newManager(dir), extra: [], children: [], servers: [] };
  });

  afterEach(async () => {
    for (const c of ctx.children) await killChild(c);
    for (const s of ctx.servers) await new Promise((r) => s.close(() => r(undefined)));
    for (const m of [ctx.manager, ...ctx.extra]) await teardown(m);
    await rm(ctx.dir, { recursive: true, force: true });
  });

  it('publishes a busybox httpd on 127.0.0.1:<free> and lets two namespaces on one network talk by IP', async () => {
    const m = ctx.manager;
    const net = await newNetwork(m, 'web');
    const hostPort = await freePort();
    const a = cid();
    const b = cid();
    const ra = await m.attach(a, { mode: 'bridge', networks: [{ name: 'web' }], ports: [{ hostIp: '127.0.0.1', hostPort, containerPort: 80, protocol: 'tcp' }] });
    const rb = await m.attach(b, { mode: 'bridge', networks: [{ name: 'web' }] });
    expect(ra.netnsPath).toBe(join(ctx.dir, 'netns', a));
    expect(ra.interfaces).toHaveLength(1);
    const ia = ra.interfaces[0]!;
    const ib = rb.interfaces[0]!;
    expect(ia).toMatchObject({ network: 'web', ifname: 'eth0', gateway: net.gateway, prefixLen: 24 });
    expect(ia.mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    expect(ia.ip).not.toBe(ib.ip);

    httpd(ra.netnsPath!, await webRoot('hello from a\n'));
    httpd(rb.netnsPath!, await webRoot('hello from b\n'));

    expect(await httpGetEventually(`http://127.0.0.1:${hostPort}/`)).toBe('hello from a\n');
    const fromA = await execInNetnsEventually(ra.netnsPath!, ['/bin/busybox', 'wget', '-q', '-O', '-', `http://${ib.ip}/`]);
    expect(fromA).toBe('hello from b\n');
    const fromB = await execInNetnsEventually(rb.netnsPath!, ['/bin/busybox', 'wget', '-q', '-O', '-', `http://${ia.ip}/`]);
    expect(fromB).toBe('hello from a\n');

    const details = await m.inspectNetwork('web');
    expect(details.containers.map((c) => c.ip).sort()).toEqual([ia.ip, ib.ip].sort());

    for (const c of ctx.children) await killChild(c);
    await m.detach(a);
    await m.detach(b);
    await m.detach(a); // idempotent
    // The network outlives its last container: bridge stays until removeNetwork.
    expect((await runCommand('ip', ['link', 'show', net.bridge])).code).toBe(0);
    // The veths go with their namespaces (the kernel's netns cleanup, right after detach).
    let ports: unknown[] = [];
    for (let i = 0; i < 40; i++) {
      ports = JSON.parse((await runCommand('ip', ['-j', 'link', 'show', 'master', net.bridge])).stdout || '[]') as unknown[];
      if (ports.length === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(ports).toEqual([]);
    // ...and their addresses went back to host-local's pool (no lease file left).
    expect((await readdir(join(m.stateDir, 'ipam', 'web'))).filter((f) => /^\d/.test(f))).toEqual([]);
    await m.removeNetwork('web');
    expect(await findLeftovers({ bridges: [net.bridge], containerIds: [a, b], subnets: [net.subnet], netnsDirs: [join(ctx.dir, 'netns')] })).toEqual({ links: [], netns: [], rules: [] });
  });

  it('refuses a subnet that overlaps another network or a host route', async () => {
    const m = ctx.manager;
    const net = await newNetwork(m, 'first');
    const half = net.subnet.replace('/24', '/25');
    await expect(m.createNetwork({ name: 'second', subnet: half, bridge: uniqueBridge() })).rejects.toMatchObject({ code: 'Conflict', message: expect.stringContaining('overlaps network first') });
    // Another manager (its own stateDir) sees the first network's bridge route.
    const other = await newManager(join(ctx.dir, 'other'));
    ctx.extra.push(other);
    await expect(other.createNetwork({ name: 'third', subnet: net.subnet, bridge: uniqueBridge() })).rejects.toMatchObject({
      code: 'Conflict',
      message: expect.stringContaining(`host route ${net.subnet} dev ${net.bridge}`),
    });
    await expect(m.createNetwork({ name: 'first', bridge: uniqueBridge(), subnet: await freeSubnet() })).rejects.toMatchObject({ code: 'Conflict' });
    await expect(m.createNetwork({ name: 'bad', subnet: '10.213.0.1/24' })).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(m.createNetwork({ name: 'bad', bridge: 'a-bridge-name-too-long', subnet: await freeSubnet() })).rejects.toMatchObject({ code: 'InvalidArgument' });
    expect((await m.listNetworks()).map((n) => n.name)).toEqual(['first']);
  });

  it('allocates distinct free subnets from its pool when none is given', async () => {
    const poolBase = await freeSubnet();
    const dir = join(ctx.dir, 'pool');
    const bridge = uniqueBridge();
    used.bridges.push(bridge);
    used.subnets.push(poolBase);
    const m = new CniNetworkManager({ stateDir: join(dir, 'state'), netnsDir: join(dir, 'netns'), defaultNetwork: { bridge, subnet: poolBase.replace('.0/24', '.0/28') }, subnetPool: { base: poolBase, prefixLen: 28 } });
    ctx.extra.push(m);
    const b1 = uniqueBridge();
    const b2 = uniqueBridge();
    used.bridges.push(b1, b2);
    const n1 = await m.createNetwork({ name: 'p1', bridge: b1 });
    const n2 = await m.createNetwork({ name: 'p2', bridge: b2 });
    const prefix = poolBase.slice(0, poolBase.lastIndexOf('.'));
    // .0/28 is reserved for the (not yet created) default network.
    expect(n1.subnet).toBe(`${prefix}.16/28`);
    expect(n2.subnet).toBe(`${prefix}.32/28`);
    expect(n1.gateway).toBe(`${prefix}.17`);
  });

  it('refuses a host port that is already in use, before touching anything', async () => {
    const m = ctx.manager;
    await newNetwork(m, 'ports');
    const busy = await freePort();
    const server: Server = await new Promise((resolve) => {
      const s = createServer();
      s.listen(busy, '127.0.0.1', () => resolve(s));
    });
    ctx.servers.push(server);
    const a = cid();
    await expect(m.attach(a, { mode: 'bridge', networks: [{ name: 'ports' }], ports: [{ hostIp: '127.0.0.1', hostPort: busy, containerPort: 80, protocol: 'tcp' }] })).rejects.toMatchObject({
      code: 'Conflict',
      message: expect.stringContaining('port is already allocated'),
    });
    // Wildcard publish clashes with a loopback listener too.
    await expect(m.attach(a, { mode: 'bridge', networks: [{ name: 'ports' }], ports: [{ hostPort: busy, containerPort: 80, protocol: 'tcp' }] })).rejects.toMatchObject({ code: 'Conflict' });
    expect(await findLeftovers({ bridges: [], containerIds: [a], subnets: [], netnsDirs: [join(ctx.dir, 'netns')] })).toEqual({ links: [], netns: [], rules: [] });

    // A port published by a container (portmap binds no socket) is refused for the next one,
    // by this manager and by another manager on the host (seen in iptables).
    const free = await freePort();
    const ra = await m.attach(a, { mode: 'bridge', networks: [{ name: 'ports' }], ports: [{ hostIp: '127.0.0.1', hostPort: free, containerPort: 80, protocol: 'tcp' }] });
    expect(ra.interfaces).toHaveLength(1);
    const b = cid();
    await expect(m.attach(b, { mode: 'bridge', networks: [{ name: 'ports' }], ports: [{ hostPort: free, containerPort: 8080, protocol: 'tcp' }] })).rejects.toMatchObject({ code: 'Conflict', message: expect.stringContaining(a) });
    const other = await newManager(join(ctx.dir, 'other'));
    ctx.extra.push(other);
    await newNetwork(other, 'ports2');
    await expect(other.attach(b, { mode: 'bridge', networks: [{ name: 'ports2' }], ports: [{ hostIp: '127.0.0.1', hostPort: free, containerPort: 80, protocol: 'tcp' }] })).rejects.toMatchObject({
      code: 'Conflict',
      message: expect.stringContaining('another CNI user'),
    });
    // udp on the same number is a different port.
    const rb = await m.attach(b, { mode: 'bridge', networks: [{ name: 'ports' }], ports: [{ hostIp: '127.0.0.1', hostPort: free, containerPort: 53, protocol: 'udp' }] });
    expect(rb.interfaces).toHaveLength(1);
  });

  it('refuses to remove a network while containers are attached', async () => {
    const m = ctx.manager;
    const net = await newNetwork(m, 'busy');
    const a = cid();
    await m.attach(a, { mode: 'bridge', networks: [{ name: 'busy' }] });
    await expect(m.removeNetwork('busy')).rejects.toMatchObject({ code: 'Conflict', message: expect.stringContaining('active endpoints') });
    await m.detach(a);
    await m.removeNetwork('busy');
    await expect(m.inspectNetwork('busy')).rejects.toMatchObject({ code: 'NotFound' });
    await expect(m.removeNetwork('busy')).rejects.toMatchObject({ code: 'NotFound' });
    expect(await findLeftovers({ bridges: [net.bridge], containerIds: [a], subnets: [net.subnet], netnsDirs: [join(ctx.dir, 'netns')] })).toEqual({ links: [], netns: [], rules: [] });
  });

  it('joins the default network, several networks, and supports none and host modes', async () => {
    const m = ctx.manager;
    const a = cid();
    const ra = await m.attach(a, { mode: 'bridge' });
    expect(ra.interfaces[0]).toMatchObject({ network: 'testdefault', ifname: 'eth0' });
    await newNetwork(m, 'backend', true);
    const b = cid();
    const rb = await m.attach(b, { mode: 'bridge', hostname: 'dbhost', networks: [{ name: 'testdefault' }, { name: 'backend', aliases: ['db'] }] });
    expect(rb.interfaces.map((i) => i.ifname)).toEqual(['eth0', 'eth1']);
    const routes = await execInNetns(rb.netnsPath!, ['ip', '-j', 'route']);
    expect(JSON.parse(routes.stdout).filter((r: { dst: string }) => r.dst === 'default')).toHaveLength(1);
    expect((await m.inspectNetwork('backend')).containers[0]).toMatchObject({ containerId: b, aliases: ['db'], hostname: 'dbhost' });
    // on disk once attach returns: attached, every network's result and interface (what a restart and DEL read)
    const onDisk = async (id: string): Promise<any> => JSON.parse(await readFile(join(ctx.dir, 'state', 'attachments', `${id}.json`), 'utf8'));
    const rec = await onDisk(b);
    expect(rec.phase).toBe('attached');
    expect(rec.networks.map((n: any) => n.iface.ip)).toEqual(rb.interfaces.map((i) => i.ip));
    expect(rec.networks.every((n: any) => n.result?.ips?.length > 0)).toBe(true);
    expect((await onDisk(a)).phase).toBe('attached');

    const c = cid();
    const rc = await m.attach(c, { mode: 'none' });
    expect(rc.interfaces).toEqual([]);
    const links = JSON.parse((await execInNetns(rc.netnsPath!, ['ip', '-j', 'link'])).stdout) as { ifname: string; operstate: string }[];
    expect(links.map((l) => l.ifname)).toEqual(['lo']);
    expect(await m.attach(cid(), { mode: 'host' })).toEqual({ interfaces: [], ports: [] });
    await expect(m.attach(c, { mode: 'none' })).rejects.toMatchObject({ code: 'Conflict' });
    await expect(m.attach(cid(), { mode: 'bridge', networks: [{ name: 'nope' }] })).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('attaches concurrently: ephemeral and fixed ports, wildcard publish on loopback, udp, fixed address', async () => {
    const m = ctx.manager;
    const net = await newNetwork(m, 'many');
    const ids = [cid(), cid(), cid(), cid()];
    const fixed = await Promise.all(ids.map(() => freePort()));
    const staticIp = net.subnet.replace('.0/24', '.200');
    const results = await Promise.all(
      ids.map((id, i) =>
        m.attach(id, {
          mode: 'bridge',
          networks: [{ name: 'many', ...(i === 0 ? { ipv4Address: staticIp } : {}) }],
          ports: [
            { hostPort: fixed[i]!, containerPort: 80 },
            { hostIp: '127.0.0.1', hostPort: 0, containerPort: 80, protocol: 'tcp' },
            { hostIp: '127.0.0.1', hostPort: 0, containerPort: 5353, protocol: 'udp' },
          ],
        }),
      ),
    );
    expect(results[0]!.interfaces[0]!.ip).toBe(staticIp);
    expect(new Set(results.map((r) => r.interfaces[0]!.ip)).size).toBe(4);
    const ephemeral = results.map((r) => r.ports[1]!.hostPort);
    expect(new Set(ephemeral).size).toBe(4);
    for (const p of ephemeral) expect(p).toBeGreaterThan(0);
    await expect(m.attach(cid(), { mode: 'bridge', networks: [{ name: 'many', ipv4Address: staticIp }] })).rejects.toMatchObject({ code: 'Conflict' });

    for (const [i, r] of results.entries()) httpd(r.netnsPath!, await webRoot(`ctr ${i}\n`));
    for (const [i, r] of results.entries()) {
      // Wildcard publish (Docker's -p 8080:80) and the ephemeral one both answer on loopback.
      expect(await httpGetEventually(`http://127.0.0.1:${fixed[i]}/`)).toBe(`ctr ${i}\n`);
      expect(await httpGetEventually(`http://127.0.0.1:${r.ports[1]!.hostPort}/`)).toBe(`ctr ${i}\n`);
    }

    // udp: a datagram to 127.0.0.1:<published> reaches nc listening in the namespace.
    const udpPort = results[0]!.ports[2]!.hostPort;
    // busybox nc has no udp: a tiny node listener inside the namespace prints what arrives.
    const listener = "require('dgram').createSocket('udp4').on('message', (m) => process.stdout.write(m)).bind(5353, '0.0.0.0')";
    const nc = spawn('nsenter', [`--net=${results[0]!.netnsPath!}`, process.execPath, '-e', listener], { stdio: ['ignore', 'pipe', 'ignore'] });
    ctx.children.push(nc);
    let received = '';
    nc.stdout!.on('data', (c: Buffer) => (received += c.toString()));
    const sock = createSocket('udp4');
    for (let i = 0; i < 40 && !received.includes('ping'); i++) {
      sock.send('ping\n', udpPort, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 100));
    }
    sock.close();
    expect(received).toContain('ping');

    for (const c of ctx.children) await killChild(c);
    await Promise.all(ids.map((id) => m.detach(id)));
    await m.removeNetwork('many');
    expect(await findLeftovers({ bridges: [net.bridge], containerIds: ids, subnets: [net.subnet], netnsDirs: [join(ctx.dir, 'netns')] })).toEqual({ links: [], netns: [], rules: [] });
  });

  it('isolates networks from each other (published ports excepted) and keeps internal networks in', async () => {
    const m = ctx.manager;
    const n1 = await newNetwork(m, 'iso1');
    const n2 = await newNetwork(m, 'iso2');
    const n3 = await newNetwork(m, 'iso3', true);
    const [a, b, c] = [cid(), cid(), cid()];
    const port = await freePort();
    const ra = await m.attach(a, { mode: 'bridge', networks: [{ name: 'iso1' }] });
    const rb = await m.attach(b, { mode: 'bridge', networks: [{ name: 'iso2' }], ports: [{ hostPort: port, containerPort: 80 }] });
    const rc = await m.attach(c, { mode: 'bridge', networks: [{ name: 'iso3' }] });
    httpd(rb.netnsPath!, await webRoot('b\n'));
    httpd(rc.netnsPath!, await webRoot('c\n'));
    const ipB = rb.interfaces[0]!.ip;
    // Published: a reaches b through its own gateway (a host address) and the DNAT.
    expect(await execInNetnsEventually(ra.netnsPath!, ['/bin/busybox', 'wget', '-q', '-O', '-', `http://${n1.gateway}:${port}/`])).toBe('b\n');
    // Direct, across networks: dropped (nc gives up after its 1 s connect timeout).
    const direct = await execInNetns(ra.netnsPath!, ['/bin/busybox', 'nc', '-w', '1', ipB, '80'], 5000);
    expect(direct.code).not.toBe(0);
    const toInternal = await execInNetns(ra.netnsPath!, ['/bin/busybox', 'nc', '-w', '1', rc.interfaces[0]!.ip, '80'], 5000);
    expect(toInternal.code).not.toBe(0);
    expect(rc.interfaces[0]!.gateway).toBe(n3.gateway);
    for (const ch of ctx.children) await killChild(ch);
    for (const id of [a, b, c]) await m.detach(id);
    for (const n of ['iso1', 'iso2', 'iso3']) await m.removeNetwork(n);
    expect(await findLeftovers({ bridges: [n1.bridge, n2.bridge, n3.bridge], containerIds: [a, b, c], subnets: [n1.subnet, n2.subnet, n3.subnet], netnsDirs: [join(ctx.dir, 'netns')] })).toEqual({ links: [], netns: [], rules: [] });
  });

  it('cleans up after a crash from the persisted state (sweep by a new manager)', async () => {
    const m = ctx.manager;
    const net = await newNetwork(m, 'crash');
    const a = cid();
    const b = cid();
    const port = await freePort();
    await m.attach(a, { mode: 'bridge', networks: [{ name: 'crash' }], ports: [{ hostPort: port, containerPort: 80, protocol: 'tcp' }] });
    const rb = await m.attach(b, { mode: 'bridge', networks: [{ name: 'crash' }] });
    // "Crash": forget the manager; b's namespace even vanished under us (as after a reboot).
    expect((await runCommand('umount', [rb.netnsPath!])).code).toBe(0);
    // ...and the bridge went too (a reboot): sweep brings it back, the network still exists.
    expect((await runCommand('ip', ['link', 'del', net.bridge])).code).toBe(0);
    const revived = new CniNetworkManager({ stateDir: m.stateDir, netnsDir: m.netnsDir, defaultNetwork: { name: 'testdefault' } });
    ctx.manager = revived;
    expect((await revived.sweep([])).sort()).toEqual([a, b].sort());
    expect((await runCommand('ip', ['-j', 'addr', 'show', 'dev', net.bridge])).stdout).toContain(net.gateway);
    await revived.removeNetwork('crash');
    expect(await findLeftovers({ bridges: [net.bridge], containerIds: [a, b], subnets: [net.subnet], netnsDirs: [join(ctx.dir, 'netns')] })).toEqual({ links: [], netns: [], rules: [] });
  });
});

describe.runIf(isRoot || CI)('after every network test', () => {
  afterAll(() => undefined);
  it('left no netns, veth, bridge or iptables rule with its names', async () => {
    expect(await findLeftovers(used)).toEqual({ links: [], netns: [], rules: [] });
  });
});
