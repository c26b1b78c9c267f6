import { afterAll, describe, expect, it } from 'vitest';
import { useCliDaemon } from './support/fixture.js';

// berth network connect --alias / disconnect -f on a running container, against a real
// berthd: the new interface answers at once and its alias resolves from the other side.
describe('berth network connect/disconnect of a running container', () => {
  const t = useCliDaemon({ busybox: 'registry' });
  const { berth, berthOk } = t;
  const suffix = Math.random().toString(16).slice(2, 8);
  const name = (n: string): string => `${n}-${suffix}`;

  afterAll(async () => {
    // its containers first, then the network (before the fixture stops the daemon)
    const ids = (await berth(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await berth(['rm', '-f', ...ids]);
    await berth(['network', 'rm', name('net')]);
  });

  it('connects with --alias (reachable by that name), then disconnects with -f', async () => {
    await berthOk(['network', 'create', name('net')]);
    await berthOk(['run', '-d', '--name', name('srv'), '--network', name('net'), t.image, 'sleep', '300']);
    await berthOk(['run', '-d', '--name', name('cli'), t.image, 'sleep', '300']);
    await berthOk(['network', 'connect', '--alias', 'joined', name('net'), name('cli')]);
    const ip = (await berthOk(['inspect', '-f', `{{(index .NetworkSettings.Networks "${name('net')}").IPAddress}}`, name('cli')])).trim();
    expect(ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const ping = await berth(['exec', name('srv'), 'ping', '-c1', '-W2', 'joined'], { timeoutMs: 20_000 });
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
    expect(ping.stdout).toContain(ip);
    await berthOk(['network', 'disconnect', '-f', name('net'), name('cli')]);
    // (not asked by name again: an unknown name is forwarded to the host's nameservers)
    expect((await berth(['exec', name('cli'), 'ip', 'link', 'show', 'eth1'])).code).not.toBe(0);
    expect(await berthOk(['network', 'inspect', '-f', '{{range .Containers}}{{.Name}} {{end}}', name('net')])).toBe(`${name('srv')} \n`);
    expect((await berthOk(['inspect', '-f', '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}', name('cli')])).trim()).toBe('bridge');
  });
});
