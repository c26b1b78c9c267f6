import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isolatedNetworkConfig } from './support/daemon.js';
import { removeDaemonNetwork, seededRegistry, type SeededRegistry } from '@berth/fixtures';
import { startDaemon, type Daemon } from '../src/index.js';
import { docker, dockerOk } from './support/docker-cli.js';

const run = promisify(execFile);

/**
 * A stand-in upstream nameserver on a random loopback address, port 53 (berthd's daemon.json
 * `dns`), so no question leaves the host: NXDOMAIN for everything, the names asked recorded.
 */
async function startUpstream(): Promise<{ ip: string; asked: string[]; close(): void }> {
  const asked: string[] = [];
  for (let i = 0; ; i++) {
    const ip = `127.${53 + (i % 100)}.${Math.floor(Math.random() * 250) + 1}.${Math.floor(Math.random() * 250) + 1}`;
    const s: Socket = createSocket('udp4');
    s.on('message', (msg, r) => {
      if (msg.length < 12) return;
      const labels: string[] = [];
      for (let off = 12; off < msg.length && msg[off]! > 0; off += msg[off]! + 1) labels.push(msg.toString('latin1', off + 1, off + 1 + msg[off]!));
      asked.push(labels.join('.'));
      const reply = Buffer.from(msg);
      reply.writeUInt16BE(0x8183, 2); // QR, RD, RA, NXDOMAIN
      s.send(reply, r.port, r.address);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind(53, ip, () => resolve());
      });
      return { ip, asked, close: () => s.close() };
    } catch (e) {
      s.close();
      if (i >= 5) throw e;
    }
  }
}

// The real docker CLI against berthd: name resolution between containers on user
// networks (the embedded DNS) and network connect/disconnect of running containers.
describe('docker CLI: user network DNS and connect/disconnect of running containers', () => {
  let t: { daemon: Daemon; dir: string; network: ReturnType<typeof isolatedNetworkConfig> } | undefined;
  let upstream: Awaited<ReturnType<typeof startUpstream>> | undefined;
  let reg: SeededRegistry;
  let image: string;
  let env: NodeJS.ProcessEnv;
  const suffix = Math.random().toString(16).slice(2, 8);
  const name = (n: string): string => `${n}-${suffix}`;
  const [net1, net2] = [name('front'), name('back')];
  const bridges: string[] = [];
  const subnets: string[] = [];

  const ipOn = async (ctr: string, net: string): Promise<string> => (await dockerOk(env, ['inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, ctr])).trim();
  const exec = (ctr: string, args: string[]) => docker(env, ['exec', ctr, ...args], { timeoutMs: 20_000 });

  beforeAll(async () => {
    reg = await seededRegistry();
    image = reg.busybox;
    // berthd with its own root, bridge and pool (as startTestDaemon) and `dns` pointing at the stand-in
    upstream = await startUpstream();
    const dir = await mkdtemp(join(tmpdir(), 'berthd-dns-'));
    const network = isolatedNetworkConfig();
    await writeFile(join(dir, 'daemon.json'), JSON.stringify({ ...network, dns: [upstream.ip] }));
    const socketPath = join(dir, 'run', 'berthd.sock');
    t = { dir, network, daemon: await startDaemon({ root: join(dir, 'root'), runRoot: join(dir, 'run'), configFile: join(dir, 'daemon.json'), hosts: [`unix://${socketPath}`] }) };
    env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, DOCKER_HOST: `unix://${socketPath}`, DOCKER_CONFIG: join(dir, 'docker-config'), DOCKER_CLI_HINTS: 'false' };
    await dockerOk(env, ['pull', image]);
    for (const n of [net1, net2]) {
      const bridge = `bd${Math.random().toString(16).slice(2, 10)}`;
      bridges.push(bridge);
      await dockerOk(env, ['network', 'create', '-o', `com.docker.network.bridge.name=${bridge}`, n]);
      const info = JSON.parse(await dockerOk(env, ['network', 'inspect', n, '--format', '{{json .IPAM.Config}}'])) as { Subnet: string }[];
      subnets.push(info[0]!.Subnet);
    }
  }, 120_000);

  afterAll(async () => {
    if (t) {
      const ids = (await docker(env, ['ps', '-aq'])).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) await docker(env, ['rm', '-f', ...ids]);
      for (const n of [net1, net2]) await docker(env, ['network', 'rm', n]);
      await t.daemon.close();
      await removeDaemonNetwork(t.network.bridge, t.network.bip);
      await rm(t.dir, { recursive: true, force: true });
    }
    upstream?.close();
    await reg?.stop();
    // nothing of ours left: no rule naming our subnets or bridges, no bridge or veth on them
    const links = JSON.parse((await run('ip', ['-j', 'link', 'show'])).stdout) as { ifname: string; master?: string }[];
    expect(links.filter((l) => bridges.includes(l.ifname) || (l.master && bridges.includes(l.master)))).toEqual([]);
    const rules = (await run('iptables-save', [])).stdout.split('\n').filter((l) => subnets.some((s) => s && l.includes(s.replace(/\.0\/24$/, '.'))) || bridges.some((b) => l.includes(b)));
    expect(rules).toEqual([]);
  });

  it('containers on a user network resolve each other by name, alias and short ID; not across networks, not on the default bridge', async () => {
    await dockerOk(env, ['run', '-d', '--name', name('a'), '--network', net1, image, 'sleep', '300']);
    const b = (await dockerOk(env, ['run', '-d', '--name', name('b'), '--network', net1, '--network-alias', 'bee', image, 'sh', '-c', 'mkdir /www && echo hello-from-b > /www/index.html && exec httpd -f -p 80 -h /www'])).trim();
    await dockerOk(env, ['run', '-d', '--name', name('c'), '--network', net2, image, 'sleep', '300']);
    await dockerOk(env, ['run', '-d', '--name', name('d'), image, 'sleep', '300']);
    const ipB = await ipOn(name('b'), net1);
    expect(ipB).toMatch(/^\d+\.\d+\.\d+\.\d+$/);

    const ping = await exec(name('a'), ['ping', '-c1', '-W2', name('b')]);
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
    const ns = await exec(name('a'), ['nslookup', name('b')]);
    expect(ns.code, ns.stdout + ns.stderr).toBe(0);
    expect(ns.stdout).toContain(ipB);
    expect((await exec(name('a'), ['nslookup', 'bee'])).stdout).toContain(ipB);
    expect((await exec(name('a'), ['nslookup', b.slice(0, 12)])).stdout).toContain(ipB);
    const wget = await exec(name('a'), ['wget', '-q', '-O-', 'http://bee/']);
    expect(wget.stdout).toBe('hello-from-b\n');

    expect((await exec(name('c'), ['nslookup', name('b')])).code).not.toBe(0);
    expect((await exec(name('c'), ['nslookup', 'bee'])).code).not.toBe(0);
    // the default bridge has no embedded DNS (its resolv.conf is the host's); asked directly, it refuses a stranger
    const gw1 = (await dockerOk(env, ['network', 'inspect', net1, '-f', '{{(index .IPAM.Config 0).Gateway}}'])).trim();
    expect((await exec(name('d'), ['cat', '/etc/resolv.conf'])).stdout).not.toContain(gw1);
    expect((await exec(name('d'), ['nslookup', name('b'), gw1])).code).not.toBe(0);
    // other names go to daemon.json's `dns`
    expect((await exec(name('a'), ['nslookup', 'elsewhere.example.test'])).code).not.toBe(0);
    expect(upstream!.asked).toContain('elsewhere.example.test');
  });

  it('docker network connect/disconnect of a running container', async () => {
    const since = `${Math.floor(Date.now() / 1000) - 1}`;
    expect((await exec(name('a'), ['ping', '-c1', '-W2', name('c')])).code).not.toBe(0);

    const con = await docker(env, ['network', 'connect', '--alias', 'alpha', net2, name('a')]);
    expect(con.stderr).toBe('');
    expect(con.code).toBe(0);
    const ipA2 = await ipOn(name('a'), net2);
    expect(ipA2).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(await ipOn(name('a'), net1)).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const ping = await exec(name('a'), ['ping', '-c1', '-W2', name('c')]);
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
    expect((await exec(name('c'), ['nslookup', 'alpha'])).stdout).toContain(ipA2);
    const members = JSON.parse(await dockerOk(env, ['network', 'inspect', net2, '--format', '{{json .Containers}}'])) as Record<string, { Name: string; IPv4Address: string }>;
    expect(Object.values(members).map((m) => m.Name).sort()).toEqual([name('a'), name('c')].sort());
    expect(Object.values(members).find((m) => m.Name === name('a'))?.IPv4Address).toBe(`${ipA2}/24`);
    // connected twice: refused as Docker does
    expect((await docker(env, ['network', 'connect', net2, name('a')])).code).not.toBe(0);

    const dis = await docker(env, ['network', 'disconnect', net2, name('a')]);
    expect(dis.code, dis.stderr).toBe(0);
    expect((await exec(name('a'), ['nslookup', name('c')])).code).not.toBe(0);
    expect((await exec(name('a'), ['ip', 'link', 'show', 'eth1'])).code).not.toBe(0);
    expect((await exec(name('c'), ['nslookup', 'alpha'])).code).not.toBe(0);
    const after = JSON.parse(await dockerOk(env, ['network', 'inspect', net2, '--format', '{{json .Containers}}'])) as Record<string, { Name: string }>;
    expect(Object.values(after).map((m) => m.Name)).toEqual([name('c')]);
    expect(Object.keys(JSON.parse(await dockerOk(env, ['inspect', '-f', '{{json .NetworkSettings.Networks}}', name('a')])) as object)).toEqual([net1]);
    // again with a fixed address
    const fixed = subnets[1]!.replace(/\.0\/24$/, '.77');
    await dockerOk(env, ['network', 'connect', '--ip', fixed, net2, name('a')]);
    expect(await ipOn(name('a'), net2)).toBe(fixed);
    expect((await exec(name('c'), ['ping', '-c1', '-W2', name('a')])).code).toBe(0);
    await dockerOk(env, ['network', 'disconnect', net2, name('a')]);

    // renamed: the new name resolves, the old one not
    await dockerOk(env, ['rename', name('b'), name('b2')]);
    expect((await exec(name('a'), ['nslookup', name('b2')])).code).toBe(0);
    expect((await exec(name('a'), ['nslookup', name('b')])).code).not.toBe(0);
    // stopped: no longer resolves
    await dockerOk(env, ['stop', '-t', '1', name('b2')]);
    expect((await exec(name('a'), ['nslookup', name('b2')])).code).not.toBe(0);

    const until = `${Math.floor(Date.now() / 1000) + 1}`;
    const out = await dockerOk(env, ['events', '--since', since, '--until', until, '--filter', 'type=network', '--format', '{{.Action}} {{.Actor.Attributes.name}}']);
    expect(out).toContain(`connect ${net2}`);
    expect(out).toContain(`disconnect ${net2}`);
  });

  it('the compose flow: created with an alias, connected to a second network before start, resolves services on both', async () => {
    // what docker compose does: create on the project network with the service alias, connect the others, start
    await dockerOk(env, ['create', '--name', name('web-1'), '--network', net1, '--network-alias', 'web', image, 'sleep', '300']);
    await dockerOk(env, ['network', 'connect', '--alias', 'web', net2, name('web-1')]);
    await dockerOk(env, ['create', '--name', name('db-1'), '--network', net2, '--network-alias', 'db', image, 'sleep', '300']);
    await dockerOk(env, ['start', name('web-1'), name('db-1')]);
    const nets = JSON.parse(await dockerOk(env, ['inspect', '-f', '{{json .NetworkSettings.Networks}}', name('web-1')])) as Record<string, { IPAddress: string }>;
    expect(Object.keys(nets).sort()).toEqual([net1, net2].sort());
    const dbIp = await ipOn(name('db-1'), net2);
    const r = await exec(name('web-1'), ['nslookup', 'db']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(dbIp);
    expect((await exec(name('web-1'), ['nslookup', name('a')])).stdout).toContain(await ipOn(name('a'), net1));
    // db sees web by its alias on their shared network only
    expect((await exec(name('db-1'), ['nslookup', 'web'])).stdout).toContain(nets[net2]!.IPAddress);
    expect((await exec(name('db-1'), ['nslookup', 'web'])).stdout).not.toContain(nets[net1]!.IPAddress);
  });

  it('disconnected from its last network a container keeps loopback only, across a restart too, as in Docker', async () => {
    await dockerOk(env, ['run', '-d', '--name', name('e'), '--network', net1, image, 'sleep', '300']);
    await dockerOk(env, ['network', 'disconnect', net1, name('e')]);
    const links = async () => (await exec(name('e'), ['ip', '-o', 'link', 'show'])).stdout.trim().split('\n').map((l) => l.split(':')[1]?.trim().split('@')[0]);
    expect(await links()).toEqual(['lo']);
    expect(await dockerOk(env, ['inspect', '-f', '{{json .NetworkSettings.Networks}}', name('e')])).toBe('{}\n');
    await dockerOk(env, ['restart', '-t', '0', name('e')]);
    expect(await links()).toEqual(['lo']);
    // a container running without a network cannot be connected; stopped, it can
    expect((await docker(env, ['network', 'connect', net1, name('e')])).code).not.toBe(0);
    await dockerOk(env, ['stop', '-t', '0', name('e')]);
    await dockerOk(env, ['network', 'connect', net1, name('e')]);
    await dockerOk(env, ['start', name('e')]);
    expect(await links()).toEqual(['lo', 'eth0']);
    expect((await exec(name('e'), ['nslookup', name('a')])).stdout).toContain(await ipOn(name('a'), net1));
  });
});
