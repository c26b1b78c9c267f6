import { describe, expect, it } from 'vitest';
import Docker from 'dockerode';
import { freePort } from '@berth/fixtures';
import { useTestDaemon } from './support/fixture.js';
import { fetchWhenUp } from './support/http.js';

const HTTPD = ['sh', '-c', 'mkdir -p /www && echo "hello from busybox httpd" > /www/index.html && exec httpd -f -p 80 -h /www'];

// npm Docker clients, unchanged, against berthd: each starts busybox httpd with a
// published port, waits for it, talks to it and stops it.
describe('npm Docker API clients against berthd', () => {
  const t = useTestDaemon({ registry: true });

  it('dockerode: pull, create with a published port, start, talk, stop, remove', async () => {
    const docker = new Docker({ socketPath: t.socketPath });
    const stream = await docker.pull(t.reg.busybox);
    await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())));
    const port = await freePort();
    const container = await docker.createContainer({
      Image: t.reg.busybox,
      Cmd: HTTPD,
      ExposedPorts: { '80/tcp': {} },
      HostConfig: { PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] } },
    });
    try {
      await container.start();
      const info = await container.inspect();
      expect(info.State.Running).toBe(true);
      expect(info.NetworkSettings.Ports['80/tcp']?.[0]?.HostPort).toBe(String(port));
      expect(await fetchWhenUp(`http://127.0.0.1:${port}/`)).toBe('hello from busybox httpd\n');
      await container.stop({ t: 2 });
      expect((await container.inspect()).State.Running).toBe(false);
    } finally {
      await container.remove({ force: true });
    }
  });

  it('testcontainers: GenericContainer with an HTTP wait strategy', async () => {
    process.env['DOCKER_HOST'] = t.host;
    process.env['TESTCONTAINERS_RYUK_DISABLED'] = 'true';
    process.env['TESTCONTAINERS_HOST_OVERRIDE'] = '127.0.0.1';
    const { GenericContainer, Wait } = await import('testcontainers');
    const started = await new GenericContainer(t.reg.busybox)
      .withCommand(HTTPD)
      .withExposedPorts(80)
      .withWaitStrategy(Wait.forHttp('/', 80).forStatusCode(200))
      .withStartupTimeout(30_000)
      .start();
    try {
      const url = `http://${started.getHost()}:${started.getMappedPort(80)}/`;
      expect(await (await fetch(url)).text()).toBe('hello from busybox httpd\n');
    } finally {
      await started.stop({ timeout: 2000 });
    }
  });
});
