import { afterAll, describe, expect, it } from 'vitest';
import { randomBytes, randomInt } from 'node:crypto';
import { useTestDaemon } from './support/fixture.js';
import { request } from './support/http.js';
import { docker, dockerOk } from './support/docker-cli.js';

/*
 * Networks and endpoints as dockerd 20.10 answers docker-py's requests (asked of the
 * reference dockerd): IPAM pools kept as given (IPRange, AuxiliaryAddresses, nulls),
 * any network name, IPv6 networks with real IPv6 addresses, MacAddress / DriverOpts /
 * Links of endpoints at create and connect, endpoint links resolved by the embedded DNS,
 * and legacy links on the default bridge (environment, /etc/hosts, DELETE ?link=1).
 */
describe('network endpoints, IPAM and links against a real berthd', () => {
  const t = useTestDaemon({ busybox: 'registry' });
  const tag = randomBytes(3).toString('hex');
  const n = (s: string): string => `${s}-${tag}`;

  const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> => {
    const r = await request(t.socketPath, method, path, body === undefined ? {} : { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
    return { status: r.status, json: r.body ? JSON.parse(r.body) : undefined };
  };
  const create = async (name: string, body: Record<string, unknown>, version = '1.41') => api('POST', `/v${version}/containers/create?name=${name}`, { Image: t.image, ...body });
  const exec = (ctr: string, args: string[]) => docker(t.dockerEnv, ['exec', ctr, ...args], { timeoutMs: 20_000 });
  /** A /24 of this daemon's own pool, counted from its end (clear of what it allocates first). */
  const poolSubnet = (k: number): string => {
    const [a, b, c] = t.network['network-pool'].base.split('.').map(Number) as [number, number, number];
    return `${a}.${b}.${c + 15 - k}.0/24`;
  };

  afterAll(async () => {
    // its containers, then its networks (before the fixture stops the daemon)
    const ids = (await docker(t.dockerEnv, ['ps', '-aq'])).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await docker(t.dockerEnv, ['rm', '-f', ...ids]);
    await docker(t.dockerEnv, ['network', 'prune', '-f']);
  });

  it('keeps IPAM pools as given (null fields accepted, IPRange and AuxiliaryAddresses shown and honoured)', async () => {
    const s = poolSubnet(0);
    const base = s.split('.').slice(0, 3).join('.');
    const made = await api('POST', '/v1.41/networks/create', {
      Name: n('ipam'),
      IPAM: { Driver: 'default', Config: [{ Subnet: s, IPRange: `${base}.32/28`, Gateway: `${base}.254`, AuxiliaryAddresses: { a: `${base}.33`, b: `${base}.34` } }] },
      Options: null,
      Labels: null,
    });
    expect(made.status).toBe(201);
    const net = (await api('GET', `/v1.41/networks/${n('ipam')}`)).json;
    expect(net.IPAM).toEqual({ Driver: 'default', Options: null, Config: [{ Subnet: s, IPRange: `${base}.32/28`, Gateway: `${base}.254`, AuxiliaryAddresses: { a: `${base}.33`, b: `${base}.34` } }] });
    expect(net.Options).toEqual({});
    // dynamic addresses come from the range, past the auxiliary ones
    await dockerOk(t.dockerEnv, ['run', '-d', '--name', n('in-range'), '--network', n('ipam'), t.image, 'sleep', '300']);
    const ip = (await dockerOk(t.dockerEnv, ['inspect', '-f', `{{(index .NetworkSettings.Networks "${n('ipam')}").IPAddress}}`, n('in-range')])).trim();
    expect(ip).toBe(`${base}.35`);

    // docker-py's IPAMPool sends null for what it leaves unset; dockerd then shows the pool as given
    const s2 = poolSubnet(1);
    expect((await api('POST', '/v1.41/networks/create', { Name: n('nulls'), IPAM: { Driver: 'default', Config: [{ Subnet: s2, IPRange: null, Gateway: null, AuxiliaryAddresses: null }] } })).status).toBe(201);
    expect((await api('GET', `/v1.41/networks/${n('nulls')}`)).json.IPAM.Config).toEqual([{ Subnet: s2 }]);
    const c = await create(n('fixed4'), { Cmd: ['sleep', '300'], HostConfig: { NetworkMode: n('nulls') }, NetworkingConfig: { EndpointsConfig: { [n('nulls')]: { IPAMConfig: { IPv4Address: s2.replace('.0/24', '.23') } } } } });
    expect(c.status).toBe(201);
    expect((await api('POST', `/v1.41/containers/${c.json.Id}/start`)).status).toBe(204);
    const ep = (await api('GET', `/v1.41/containers/${c.json.Id}/json`)).json.NetworkSettings.Networks[n('nulls')];
    expect(ep.IPAMConfig.IPv4Address).toBe(s2.replace('.0/24', '.23'));
    expect(ep.IPAddress).toBe(s2.replace('.0/24', '.23'));
  });

  it('takes any network name dockerd takes ("test 01": the bridge device gets a name of its own)', async () => {
    const name = `test 01 ${tag}`;
    const made = await api('POST', '/v1.41/networks/create', { Name: name });
    expect(made.status).toBe(201);
    const net = (await api('GET', `/v1.41/networks/${encodeURIComponent(name)}`)).json;
    expect(net.Name).toBe(name);
    expect((await api('DELETE', `/v1.41/networks/${encodeURIComponent(name)}`)).status).toBe(204);
    expect((await api('GET', `/v1.41/networks/${encodeURIComponent(name)}`)).status).toBe(404);
  });

  it('gives containers on an EnableIPv6 network their IPv6 address, fixed at create or connect', async () => {
    // canonical groups (no leading zero): addresses come back as Go and Node print them
    const p6 = `fd${randomInt(0x10, 0x100).toString(16)}:${randomInt(0x1000, 0x10000).toString(16)}::`;
    expect((await api('POST', '/v1.41/networks/create', { Name: n('nov6pool'), EnableIPv6: true })).status).toBe(404);
    const made = await api('POST', '/v1.41/networks/create', {
      Name: n('v6'),
      EnableIPv6: true,
      IPAM: { Driver: 'default', Config: [{ Subnet: `${p6}/64`, IPRange: `${p6}/96`, Gateway: `${p6}ffff`, AuxiliaryAddresses: null }] },
    });
    expect(made.status).toBe(201);
    const net = (await api('GET', `/v1.41/networks/${n('v6')}`)).json;
    expect(net.EnableIPv6).toBe(true);
    expect(net.IPAM.Config).toHaveLength(2);
    expect(net.IPAM.Config[1]).toEqual({ Subnet: `${p6}/64`, IPRange: `${p6}/96`, Gateway: `${p6}ffff` });
    expect(net.IPAM.Config[0].Subnet).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);

    const c = await create(n('v6a'), { Cmd: ['sleep', '300'], HostConfig: { NetworkMode: n('v6') }, NetworkingConfig: { EndpointsConfig: { [n('v6')]: { IPAMConfig: { IPv6Address: `${p6}f00d` } } } } });
    expect(c.status).toBe(201);
    expect((await api('POST', `/v1.41/containers/${c.json.Id}/start`)).status).toBe(204);
    const info = (await api('GET', `/v1.41/containers/${c.json.Id}/json`)).json;
    const ep = info.NetworkSettings.Networks[n('v6')];
    expect(ep).toMatchObject({ IPAMConfig: { IPv6Address: `${p6}f00d` }, GlobalIPv6Address: `${p6}f00d`, GlobalIPv6PrefixLen: 64, IPv6Gateway: `${p6}ffff` });
    expect(info.NetworkSettings.GlobalIPv6Address).toBe(`${p6}f00d`);
    expect((await exec(n('v6a'), ['ip', '-6', 'addr', 'show', 'eth0'])).stdout).toContain(`${p6}f00d/64`);
    expect((await exec(n('v6a'), ['cat', '/etc/hosts'])).stdout).toContain(`${p6}f00d\t`);
    const members = (await api('GET', `/v1.41/networks/${n('v6')}`)).json.Containers[c.json.Id];
    expect(members.IPv6Address).toBe(`${p6}f00d/64`);

    // connect with a fixed IPv6 address (docker-py: disconnect, then connect with ipv6_address)
    await dockerOk(t.dockerEnv, ['run', '-d', '--name', n('v6b'), '--network', n('v6'), t.image, 'sleep', '300']);
    await dockerOk(t.dockerEnv, ['network', 'disconnect', n('v6'), n('v6b')]);
    expect((await api('POST', `/v1.41/networks/${n('v6')}/connect`, { Container: n('v6b'), EndpointConfig: { IPAMConfig: { IPv6Address: `${p6}beef` } } })).status).toBe(200);
    const epB = (await api('GET', `/v1.41/containers/${n('v6b')}/json`)).json.NetworkSettings.Networks[n('v6')];
    expect(epB).toMatchObject({ IPAMConfig: { IPv6Address: `${p6}beef` }, GlobalIPv6Address: `${p6}beef` });
    const ping = await exec(n('v6b'), ['ping', '-6', '-c1', '-W2', `${p6}f00d`]);
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
  });

  it('applies and shows MacAddress and DriverOpts of endpoints at create and connect', async () => {
    const c = await create(n('mac'), { Cmd: ['sleep', '300'], MacAddress: '02:42:ac:11:00:0a', HostConfig: { NetworkMode: 'bridge' }, NetworkingConfig: { EndpointsConfig: { bridge: { DriverOpts: { 'com.docker-py.setting': 'on' } } } } });
    expect(c.status).toBe(201);
    expect((await api('POST', `/v1.41/containers/${c.json.Id}/start`)).status).toBe(204);
    const info = (await api('GET', `/v1.41/containers/${c.json.Id}/json`)).json;
    expect(info.NetworkSettings.MacAddress).toBe('02:42:ac:11:00:0a');
    expect(info.NetworkSettings.Networks.bridge.DriverOpts).toEqual({ 'com.docker-py.setting': 'on' });
    expect((await exec(n('mac'), ['cat', '/sys/class/net/eth0/address'])).stdout.trim()).toBe('02:42:ac:11:00:0a');

    // connect of a created container: the MAC is shown at once and applied at start
    expect((await api('POST', '/v1.41/networks/create', { Name: n('macnet') })).status).toBe(201);
    const d = await create(n('mac2'), { Cmd: ['sleep', '300'] });
    expect((await api('POST', `/v1.41/networks/${n('macnet')}/connect`, { Container: d.json.Id, EndpointConfig: { MacAddress: '02:42:ac:11:00:02', DriverOpts: { a: 'b' } } })).status).toBe(200);
    const ep = (await api('GET', `/v1.41/containers/${d.json.Id}/json`)).json.NetworkSettings.Networks[n('macnet')];
    expect(ep).toMatchObject({ MacAddress: '02:42:ac:11:00:02', DriverOpts: { a: 'b' } });
    expect((await api('POST', `/v1.41/containers/${d.json.Id}/start`)).status).toBe(204);
    const running = (await api('GET', `/v1.41/containers/${d.json.Id}/json`)).json.NetworkSettings.Networks[n('macnet')];
    expect(running.MacAddress).toBe('02:42:ac:11:00:02');
    // connected while running with a MAC: it keeps it across a restart
    expect((await api('POST', '/v1.41/networks/create', { Name: n('macnet2') })).status).toBe(201);
    expect((await api('POST', `/v1.41/networks/${n('macnet2')}/connect`, { Container: d.json.Id, EndpointConfig: { MacAddress: '02:42:ac:11:00:03' } })).status).toBe(200);
    expect((await api('GET', `/v1.41/containers/${d.json.Id}/json`)).json.NetworkSettings.Networks[n('macnet2')].MacAddress).toBe('02:42:ac:11:00:03');
    expect((await api('POST', `/v1.41/containers/${d.json.Id}/restart?t=0`)).status).toBe(204);
    const after = (await api('GET', `/v1.41/containers/${d.json.Id}/json`)).json.NetworkSettings.Networks;
    expect(after[n('macnet')].MacAddress).toBe('02:42:ac:11:00:02');
    expect(after[n('macnet2')].MacAddress).toBe('02:42:ac:11:00:03');
  });

  it("shows each interface's counters in stats `networks`, and no `networks` for a container without one", async () => {
    await dockerOk(t.dockerEnv, ['run', '-d', '--name', n('stats'), t.image, 'sleep', '300']);
    await dockerOk(t.dockerEnv, ['run', '-d', '--name', n('stats-none'), '--network', 'none', t.image, 'sleep', '300']);
    const st = (await api('GET', `/v1.41/containers/${n('stats')}/stats?stream=0`)).json;
    expect(Object.keys(st.networks)).toEqual(['eth0']);
    expect(Object.keys(st.networks.eth0).sort()).toEqual(['rx_bytes', 'rx_dropped', 'rx_errors', 'rx_packets', 'tx_bytes', 'tx_dropped', 'tx_errors', 'tx_packets']);
    expect(st.networks.eth0.rx_bytes).toBeGreaterThanOrEqual(0);
    expect('networks' in (await api('GET', `/v1.41/containers/${n('stats-none')}/stats?stream=0`)).json).toBe(false);
  });

  it('refuses several EndpointsConfig entries at create before API 1.44, and an unknown network after', async () => {
    expect((await api('POST', '/v1.41/networks/create', { Name: n('one') })).status).toBe(201);
    const old = await create(n('two-eps'), { HostConfig: { NetworkMode: n('one') }, NetworkingConfig: { EndpointsConfig: { [n('one')]: { Aliases: ['hello'] }, bar: { Aliases: ['test'] } } } });
    expect(old.status).toBe(400);
    expect(old.json.message).toBe(`Container cannot be connected to network endpoints: bar, ${n('one')}`);
    const newer = await create(n('two-eps'), { HostConfig: { NetworkMode: n('one') }, NetworkingConfig: { EndpointsConfig: { [n('one')]: {}, [`nosuch-${tag}`]: {} } } }, '1.44');
    expect(newer.status).toBe(404);
    const ok = await create(n('one-ep'), { HostConfig: { NetworkMode: n('one') }, NetworkingConfig: { EndpointsConfig: { [n('one')]: { Aliases: ['hello'], DriverOpts: { key1: 'a' } } } } });
    expect(ok.status).toBe(201);
    const ep = (await api('GET', `/v1.41/containers/${ok.json.Id}/json`)).json.NetworkSettings.Networks[n('one')];
    expect(ep).toMatchObject({ Aliases: ['hello'], DriverOpts: { key1: 'a' } });
  });

  it("resolves an endpoint link's alias through the embedded DNS, for the linking container, at create and connect", async () => {
    expect((await api('POST', '/v1.41/networks/create', { Name: n('links') })).status).toBe(201);
    const upstream = n('upstream');
    const c = await create(n('linker'), { Cmd: ['sleep', '300'], HostConfig: { NetworkMode: n('links') }, NetworkingConfig: { EndpointsConfig: { [n('links')]: { Links: [`${upstream}:bar`] } } } });
    expect(c.status).toBe(201);
    expect((await api('POST', `/v1.41/containers/${c.json.Id}/start`)).status).toBe(204);
    expect((await api('GET', `/v1.41/containers/${c.json.Id}/json`)).json.NetworkSettings.Networks[n('links')].Links).toEqual([`${upstream}:bar`]);
    await dockerOk(t.dockerEnv, ['run', '-d', '--name', upstream, '--network', n('links'), t.image, 'sleep', '300']);
    const ipUp = (await dockerOk(t.dockerEnv, ['inspect', '-f', `{{(index .NetworkSettings.Networks "${n('links')}").IPAddress}}`, upstream])).trim();
    const ns = await exec(n('linker'), ['nslookup', 'bar']);
    expect(ns.code, ns.stdout + ns.stderr).toBe(0);
    expect(ns.stdout).toContain(ipUp);
    // only the linking container knows the alias
    expect((await exec(upstream, ['nslookup', 'bar'])).code).not.toBe(0);

    // the same through network connect (docker network connect --link)
    await dockerOk(t.dockerEnv, ['run', '-d', '--name', n('linker2'), '--network', n('links'), t.image, 'sleep', '300']);
    await dockerOk(t.dockerEnv, ['network', 'disconnect', n('links'), n('linker2')]);
    await dockerOk(t.dockerEnv, ['network', 'connect', '--link', `${upstream}:baz`, n('links'), n('linker2')]);
    expect((await api('GET', `/v1.41/containers/${n('linker2')}/json`)).json.NetworkSettings.Networks[n('links')].Links).toEqual([`${upstream}:baz`]);
    const ns2 = await exec(n('linker2'), ['nslookup', 'baz']);
    expect(ns2.code, ns2.stdout + ns2.stderr).toBe(0);
    expect(ns2.stdout).toContain(ipUp);
  });

  it('gives legacy links on the default bridge their environment and hosts entries, and removes one with ?link=1', async () => {
    const child = n('child');
    await dockerOk(t.dockerEnv, ['run', '-d', '--name', child, '-e', 'FOO=1', '--expose', '80', '--expose', '53/udp', t.image, 'sleep', '300']);
    const childIp = (await dockerOk(t.dockerEnv, ['inspect', '-f', '{{.NetworkSettings.Networks.bridge.IPAddress}}', child])).trim();
    const childId = (await dockerOk(t.dockerEnv, ['inspect', '-f', '{{.Id}}', child])).trim();
    const parent = n('parent');
    const out = await dockerOk(t.dockerEnv, ['run', '--name', parent, '--link', `${child}:mylink1`, t.image, 'sh', '-c', 'env; cat /etc/hosts']);
    for (const line of [
      `MYLINK1_NAME=/${parent}/mylink1`,
      'MYLINK1_ENV_FOO=1',
      `MYLINK1_PORT=udp://${childIp}:53`,
      `MYLINK1_PORT_80_TCP=tcp://${childIp}:80`,
      `MYLINK1_PORT_80_TCP_ADDR=${childIp}`,
      'MYLINK1_PORT_80_TCP_PORT=80',
      'MYLINK1_PORT_80_TCP_PROTO=tcp',
      `MYLINK1_PORT_53_UDP=udp://${childIp}:53`,
      `${childIp}\tmylink1 ${childId.slice(0, 12)} ${child}`,
    ]) {
      expect(out.split('\n')).toContain(line);
    }
    expect(out).not.toContain('MYLINK1_ENV_PATH');
    expect((await api('GET', `/v1.41/containers/${parent}/json`)).json.HostConfig.Links).toEqual([`/${child}:/${parent}/mylink1`]);
    const listed = (await api('GET', '/v1.41/containers/json?all=1')).json as { Id: string; Names: string[] }[];
    expect(listed.find((x) => x.Id === childId)?.Names).toEqual([`/${parent}/mylink1`, `/${child}`]);

    expect((await api('DELETE', `/v1.41/containers/${parent}?link=1`)).json.message).toBe('Conflict, cannot remove the default link name of the container');
    expect((await api('DELETE', `/v1.41/containers/${parent}/mylink1?link=1`)).status).toBe(204);
    expect((await api('GET', `/v1.41/containers/${parent}/json`)).json.HostConfig.Links).toBeNull();
    const again = await api('DELETE', `/v1.41/containers/${parent}/mylink1?link=1`);
    expect(again.status).toBe(404);
    expect(again.json.message).toBe(`No such container: ${parent}/mylink1`);
    const after = (await api('GET', '/v1.41/containers/json?all=1')).json as { Id: string; Names: string[] }[];
    expect(after.find((x) => x.Id === childId)?.Names).toEqual([`/${child}`]);

    // a link to a container that does not exist is refused at create
    const bad = await create(n('badlink'), { HostConfig: { Links: [`nosuch-${tag}:x`] } });
    expect(bad.status).toBe(404);
    // on a user network dockerd neither checks nor keeps HostConfig.Links (endpoint Links serve there)
    expect((await api('POST', '/v1.41/networks/create', { Name: n('nolegacy') })).status).toBe(201);
    const user = await create(n('userlink'), { HostConfig: { NetworkMode: n('nolegacy'), Links: [`nosuch-${tag}:x`] } });
    expect(user.status).toBe(201);
    expect((await api('GET', `/v1.41/containers/${user.json.Id}/json`)).json.HostConfig.Links).toBeNull();
  });
});
