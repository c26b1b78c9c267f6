import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { freePort } from '@berth/fixtures';
import { useTestDaemon } from './support/fixture.js';
import { docker, dockerOk } from './support/docker-cli.js';
import { fetchWhenUp, request } from './support/http.js';

const run = promisify(execFile);

/** busybox httpd on port 80 serving `text`. */
function httpd(text: string): string[] {
  return ['sh', '-c', `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p 80 -h /www`];
}

/** Whether any iptables rule (any table) names `ip` as an address. */
async function iptablesMention(ip: string): Promise<boolean> {
  const { stdout } = await run('iptables-save', [], { maxBuffer: 64 * 1024 * 1024 });
  return new RegExp(`(^|[^0-9.])${ip.replace(/\./g, '\\.')}([^0-9]|$)`, 'm').test(stdout);
}

async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Net {
  IPAddress: string;
  Ports: Record<string, unknown>;
  Networks: Record<string, { IPAddress: string; EndpointID: string; MacAddress: string }>;
}

// As dockerd 20.10 (asked: the reference daemon): a container that stops — docker stop,
// docker kill, or its process ending — gives back its network namespace, address and
// published host ports at once, not at its next start or removal; the next start sets
// them up again.
describe('a stopped container releases its network and published ports', () => {
  const t = useTestDaemon({ busybox: 'registry' });
  const inspectNet = async (name: string): Promise<Net> => JSON.parse(await dockerOk(t.env, ['inspect', '-f', '{{json .NetworkSettings}}', name])) as Net;

  it('docker stop frees the port for another container; starting the first again then fails as dockerd does', async () => {
    const port = await freePort();
    const publish = `127.0.0.1:${port}:80`;
    await dockerOk(t.env, ['run', '-d', '--name', 'first', '-p', publish, t.image, ...httpd('from-a')]);
    expect(await fetchWhenUp(`http://127.0.0.1:${port}/`)).toBe('from-a\n');
    const ipA = (await inspectNet('first')).IPAddress;
    expect(ipA).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(await iptablesMention(ipA)).toBe(true);

    await dockerOk(t.env, ['stop', '-t', '1', 'first']);
    const net = await inspectNet('first');
    expect(net.Ports).toEqual({});
    expect(net.IPAddress).toBe('');
    expect(net.Networks['bridge']).toMatchObject({ IPAddress: '', EndpointID: '', MacAddress: '' });
    expect(await docker(t.env, ['port', 'first'])).toMatchObject({ code: 0, stdout: '' });
    const one = await docker(t.env, ['port', 'first', '80']);
    expect(one.code).not.toBe(0);
    expect(one.stderr).toContain("No public port '80' published for first");
    expect(await iptablesMention(ipA)).toBe(false);
    const listed = await dockerOk(t.env, ['ps', '-a', '--filter', 'name=^first$', '--format', '{{.Ports}}']);
    expect(listed.trim()).toBe('');

    await dockerOk(t.env, ['run', '-d', '--name', 'second', '-p', publish, t.image, ...httpd('from-b')]);
    expect(await fetchWhenUp(`http://127.0.0.1:${port}/`)).toBe('from-b\n');

    // dockerd: 500, the endpoint named, the exit code of the last run kept (berthd adds
    // who holds the port after dockerd's words)
    const res = await request(t.socketPath, 'POST', '/v1.41/containers/first/start');
    expect(res.status).toBe(500);
    const message = (JSON.parse(res.body) as { message: string }).message;
    expect(message).toMatch(new RegExp(`^driver failed programming external connectivity on endpoint first \\([0-9a-f]+\\): Bind for 127\\.0\\.0\\.1:${port} failed: port is already allocated( \\(published by container [0-9a-f]{64}\\))?$`));
    const cli = await docker(t.env, ['start', 'first']);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain(`Bind for 127.0.0.1:${port} failed: port is already allocated`);
    const state = JSON.parse(await dockerOk(t.env, ['inspect', '-f', '{{json .State}}', 'first'])) as { Status: string; ExitCode: number; Error: string };
    expect(state).toMatchObject({ Status: 'exited', ExitCode: 137 });
    expect(state.Error).toContain('port is already allocated');
    expect(await fetchWhenUp(`http://127.0.0.1:${port}/`)).toBe('from-b\n');

    // once the second is gone, the first starts again with its network and port set up afresh
    await dockerOk(t.env, ['rm', '-f', 'second']);
    await dockerOk(t.env, ['start', 'first']);
    expect(await fetchWhenUp(`http://127.0.0.1:${port}/`)).toBe('from-a\n');
    const again = await inspectNet('first');
    expect(again.IPAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(again.Ports).toEqual({ '80/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] });
    expect(await iptablesMention(again.IPAddress)).toBe(true);
    // the log of every run stays
    expect(await dockerOk(t.env, ['logs', 'first'])).toBe('');
    await dockerOk(t.env, ['rm', '-f', 'first']);
    expect(await iptablesMention(again.IPAddress)).toBe(false);
  });

  it('docker kill and an exit of its own release it too; the log stays', async () => {
    const port = await freePort();
    const publish = `127.0.0.1:${port}:80`;
    await dockerOk(t.env, ['run', '-d', '--name', 'killed', '-p', publish, t.image, ...httpd('killed')]);
    expect(await fetchWhenUp(`http://127.0.0.1:${port}/`)).toBe('killed\n');
    const ipKilled = (await inspectNet('killed')).IPAddress;
    await dockerOk(t.env, ['kill', 'killed']);
    expect(await iptablesMention(ipKilled)).toBe(false);
    expect((await inspectNet('killed')).Ports).toEqual({});

    await dockerOk(t.env, ['run', '-d', '--name', 'quits', '-p', publish, t.image, 'sh', '-c', 'echo bye; sleep 1; exit 3']);
    const ipQuits = (await inspectNet('quits')).IPAddress;
    expect(await iptablesMention(ipQuits)).toBe(true);
    expect((await dockerOk(t.env, ['wait', 'quits'])).trim()).toBe('3');
    await until('the exited container to give back its address', async () => !(await iptablesMention(ipQuits)));
    expect(await inspectNet('quits')).toMatchObject({ IPAddress: '', Ports: {} });
    expect(await dockerOk(t.env, ['logs', 'quits'])).toBe('bye\n');

    await dockerOk(t.env, ['run', '-d', '--name', 'taker', '-p', publish, t.image, ...httpd('taker')]);
    expect(await fetchWhenUp(`http://127.0.0.1:${port}/`)).toBe('taker\n');
    await dockerOk(t.env, ['rm', '-f', 'killed', 'quits', 'taker']);

    // `run --rm` returns with the port free for the next container, as on dockerd
    const port2 = await freePort();
    for (let i = 0; i < 3; i++) {
      expect(await dockerOk(t.env, ['run', '--rm', '-p', `127.0.0.1:${port2}:80`, t.image, 'echo', `run ${i}`])).toBe(`run ${i}\n`);
    }
    await dockerOk(t.env, ['run', '-d', '--name', 'after-rm', '-p', `127.0.0.1:${port2}:80`, t.image, ...httpd('after-rm')]);
    expect(await fetchWhenUp(`http://127.0.0.1:${port2}/`)).toBe('after-rm\n');
    await dockerOk(t.env, ['rm', '-f', 'after-rm']);
  });

  it('run --rm returns with its network given back: the same port at once, its iptables rules gone', async () => {
    const port = await freePort();
    const publish = `127.0.0.1:${port}:80`;
    // two back to back on one port, twenty times: never "port is already allocated"
    for (let i = 0; i < 20; i++) {
      for (const which of ['a', 'b']) {
        const r = await docker(t.env, ['run', '--rm', '-p', publish, t.image, 'echo', `${which}${i}`]);
        expect(r, `round ${i} ${which}`).toMatchObject({ code: 0, stdout: `${which}${i}\n` });
      }
    }
    // the container says its address; once `run --rm` returned no rule names it
    for (let i = 0; i < 3; i++) {
      const ip = (await dockerOk(t.env, ['run', '--rm', '-p', publish, t.image, 'hostname', '-i'])).trim();
      expect(ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      expect(await iptablesMention(ip), `rules for ${ip} after run --rm returned`).toBe(false);
    }
  }, 300_000);

  it('docker wait on a container that exits by itself returns with its port free and its rules gone', async () => {
    const port = await freePort();
    const publish = `127.0.0.1:${port}:80`;
    // each one exits by itself; the moment its wait answers, no rule names its address, and
    // the next one publishes the same port
    const names = Array.from({ length: 20 }, (_, i) => `self-exit-${i}`);
    for (let i = 0; i < names.length; i++) {
      const r = await docker(t.env, ['run', '-d', '--name', names[i]!, '-p', publish, t.image, 'sleep', '2']);
      expect(r, `round ${i}`).toMatchObject({ code: 0 });
      const ip = (await inspectNet(names[i]!)).IPAddress;
      expect(ip, `round ${i}`).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      const waited = await request(t.socketPath, 'POST', `/v1.41/containers/${names[i]!}/wait`);
      expect(await iptablesMention(ip), `rules for ${ip} when wait answered (round ${i})`).toBe(false);
      expect(waited).toMatchObject({ status: 200 });
      expect(JSON.parse(waited.body)).toMatchObject({ StatusCode: 0 });
    }
    await dockerOk(t.env, ['run', '-d', '--name', 'self-exit-taker', '-p', publish, t.image, ...httpd('taker')]);
    expect(await fetchWhenUp(`http://127.0.0.1:${port}/`)).toBe('taker\n');
    await dockerOk(t.env, ['rm', '-f', 'self-exit-taker', ...names]);
  }, 300_000);

  it('restart policies and docker restart set the network up again', async () => {
    const port = await freePort();
    // serves a second, then exits 1: --restart always runs it again and again on the same port
    await dockerOk(t.env, ['run', '-d', '--name', 'again', '--restart', 'always', '-p', `127.0.0.1:${port}:80`, t.image,
      'sh', '-c', 'mkdir -p /www && echo again > /www/index.html && httpd -p 80 -h /www && sleep 1 && exit 1']);
    await until('two restarts', async () => Number((await dockerOk(t.env, ['inspect', '-f', '{{.RestartCount}}', 'again'])).trim()) >= 2, 30_000);
    expect(await fetchWhenUp(`http://127.0.0.1:${port}/`)).toBe('again\n');
    await dockerOk(t.env, ['stop', '-t', '1', 'again']);
    expect(await inspectNet('again')).toMatchObject({ IPAddress: '', Ports: {} });
    await dockerOk(t.env, ['rm', 'again']);

    const port2 = await freePort();
    await dockerOk(t.env, ['run', '-d', '--name', 'restarted', '-p', `127.0.0.1:${port2}:80`, t.image, ...httpd('restarted')]);
    expect(await fetchWhenUp(`http://127.0.0.1:${port2}/`)).toBe('restarted\n');
    const before = (await inspectNet('restarted')).IPAddress;
    await dockerOk(t.env, ['restart', '-t', '1', 'restarted']);
    expect(await fetchWhenUp(`http://127.0.0.1:${port2}/`)).toBe('restarted\n');
    const after = await inspectNet('restarted');
    expect(after.IPAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(after.Ports).toEqual({ '80/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port2) }] });
    if (after.IPAddress !== before) expect(await iptablesMention(before)).toBe(false);
    await dockerOk(t.env, ['rm', '-f', 'restarted']);
  });
});
