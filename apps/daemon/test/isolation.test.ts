import { describe, expect, it } from 'vitest';
import { useTestDaemon } from './support/fixture.js';
import { docker, dockerOk } from './support/docker-cli.js';
import { request } from './support/http.js';

// --isolation on a Linux host, answered as the reference dockerd 20.10 answers it: only
// default (any case) or nothing; process and hyperv refused by the decoder, before the
// image is looked up, with a 500 and its text; the value stored as given.

describe('--isolation on Linux', () => {
  const t = useTestDaemon({ busybox: 'builtin' });
  const suffix = Math.random().toString(16).slice(2, 8);

  it('refuses process and hyperv with Docker’s message', async () => {
    for (const iso of ['process', 'hyperv']) {
      const r = await docker(t.dockerEnv, ['run', '--rm', `--isolation=${iso}`, 'busybox', 'true']);
      expect(r.code).toBe(125);
      expect(r.stderr).toContain(`Error response from daemon: Invalid isolation: "${iso}" - linux only supports 'default'`);
    }
    const api = await request(t.socketPath, 'POST', `/v1.41/containers/create?name=iso-${suffix}-x`, {
      body: JSON.stringify({ Image: `no-such-image-${suffix}`, HostConfig: { Isolation: 'process' } }),
      headers: { 'content-type': 'application/json' },
    });
    expect(api.status).toBe(500);
    expect(JSON.parse(api.body)).toEqual({ message: `Invalid isolation: "process" - linux only supports 'default'` });
  });

  it('takes default in any case and shows it in inspect as given; docker info has no isolation', async () => {
    for (const [iso, shown] of [['Default', 'Default'], ['', '']] as const) {
      const name = `iso-${suffix}-${shown || 'none'}`;
      await dockerOk(t.dockerEnv, ['create', '--name', name, `--isolation=${iso}`, 'busybox', 'true']);
      expect((await dockerOk(t.dockerEnv, ['inspect', '-f', '{{json .HostConfig.Isolation}}', name])).trim()).toBe(JSON.stringify(shown));
      await dockerOk(t.dockerEnv, ['rm', name]);
    }
    expect((await dockerOk(t.dockerEnv, ['info', '-f', '{{json .Isolation}} {{.OSType}}'])).trim()).toBe('"" linux');
  });

  it('runs a default container, and docker info names the runtime driver as dockerd names runc', async () => {
    const name = `iso-${suffix}-run`;
    const run = await docker(t.dockerEnv, ['run', '--rm', '--name', name, '--isolation=default', 'busybox', 'echo', 'isolated']);
    expect(run.stdout).toBe('isolated\n');
    const info = await dockerOk(t.dockerEnv, ['info', '--format', '{{json .Runtimes}} {{.DefaultRuntime}}']);
    const [runtimes, def] = info.trim().split(' ');
    expect(Object.keys(JSON.parse(runtimes!))).toEqual([def]);
    expect(['crun', 'runc']).toContain(def);
  });
});
