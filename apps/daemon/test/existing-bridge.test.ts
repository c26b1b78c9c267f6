import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { isolatedNetworkConfig, startTestDaemon, type TestDaemon } from './support/daemon.js';
import { docker, dockerOk } from './support/docker-cli.js';

const run = promisify(execFile);

/** The bridge's IPv4 addresses, `a.b.c.d/len`. */
async function addresses(bridge: string): Promise<string[]> {
  const { stdout } = await run('ip', ['-j', '-4', 'addr', 'show', 'dev', bridge]);
  const [link] = JSON.parse(stdout) as { addr_info: { local: string; prefixlen: number }[] }[];
  return (link?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
}

// A berth bridge already on the host (an earlier berthd on another root, a reinstall, a new
// --root) when berthd runs its first container on the default network (issue 11).
describe('berthd with a bridge that already exists', () => {
  const daemons: TestDaemon[] = [];
  const bridges: string[] = [];
  afterAll(async () => {
    for (const d of daemons.reverse()) await d.stop();
    for (const b of bridges) await run('ip', ['link', 'del', b]).catch(() => undefined);
  });

  it("two daemons on different roots with one bridge name in daemon.json: the second one's first container works", async () => {
    const first = await startTestDaemon({ logLevel: 'fatal' });
    daemons.push(first);
    await first.daemon.engine.images.ensureBuiltin('busybox');
    const gateway = first.network.bip.replace(/\/\d+$/, '');
    const ping = ['run', '--rm', 'busybox', 'sh', '-c', `ping -c 1 -W 2 ${gateway} >/dev/null && echo gw-ok`];
    expect(await dockerOk(first.dockerEnv, ping)).toBe('gw-ok\n');

    const second = await startTestDaemon({ logLevel: 'fatal' }, first.network);
    daemons.push(second);
    await second.daemon.engine.images.ensureBuiltin('busybox');
    expect(await dockerOk(second.dockerEnv, ping)).toBe('gw-ok\n');
    // the first daemon's bridge was used, not taken away
    expect(await dockerOk(first.dockerEnv, ping)).toBe('gw-ok\n');
    expect(await addresses(first.network.bridge)).toEqual([first.network.bip]);
  });

  it('a bridge of that name with another address: docker run says which addresses, and the bridge is left as it was', async () => {
    const network = isolatedNetworkConfig();
    const present = isolatedNetworkConfig().bip;
    bridges.push(network.bridge);
    await run('ip', ['link', 'add', network.bridge, 'type', 'bridge']);
    await run('ip', ['addr', 'add', present, 'dev', network.bridge]);
    const t = await startTestDaemon({ logLevel: 'fatal' }, network);
    daemons.push(t);
    await t.daemon.engine.images.ensureBuiltin('busybox');
    for (let i = 0; i < 2; i++) {
      const r = await docker(t.dockerEnv, ['run', '--rm', 'busybox', 'true']);
      expect(r.code).toBe(125);
      expect(r.stderr).toContain(`bridge ${network.bridge} already exists with address ${present}, not ${network.bip}`);
      expect(await addresses(network.bridge)).toEqual([present]);
    }
    // other networks still work
    expect(await dockerOk(t.dockerEnv, ['run', '--rm', '--network', 'none', 'busybox', 'echo', 'ok'])).toBe('ok\n');
  });
});
