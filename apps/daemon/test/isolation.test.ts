import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from './support/daemon.js';

function docker(env: NodeJS.ProcessEnv, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('docker', args, { env }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

// --isolation and the runtimes as a dockerd 20.10 on this Linux machine answers them: only
// `default` is valid, stored as given (`""` when not given); info lists the runtime drivers.
describe('berthd --isolation on a Linux host', () => {
  let t: TestDaemon;
  const names: string[] = [];

  beforeAll(async () => {
    t = await startTestDaemon();
    expect((await docker(t.dockerEnv, ['pull', 'busybox'])).code).toBe(0);
  });
  afterAll(async () => {
    if (names.length > 0) await docker(t.dockerEnv, ['rm', '-f', ...names]);
    await t?.stop();
  });

  it('refuses process and hyperv with dockerd\'s text, before anything is made', async () => {
    for (const iso of ['process', 'hyperv']) {
      const r = await docker(t.dockerEnv, ['run', '--rm', `--isolation=${iso}`, 'busybox', 'true']);
      expect(r.code).toBe(125);
      expect(r.stderr).toContain(`Error response from daemon: Invalid isolation: "${iso}" - linux only supports 'default'`);
    }
    const ps = await docker(t.dockerEnv, ['ps', '-aq']);
    expect(ps.stdout.trim()).toBe('');
  });

  it('runs default, and inspect shows the isolation as given', async () => {
    const name = `iso-${process.pid}`;
    names.push(name, `${name}-none`);
    const run = await docker(t.dockerEnv, ['run', '--name', name, '--isolation=DEFAULT', 'busybox', 'echo', 'isolated']);
    expect(run.stdout).toBe('isolated\n');
    expect((await docker(t.dockerEnv, ['create', '--name', `${name}-none`, 'busybox'])).code).toBe(0);
    const inspect = await docker(t.dockerEnv, ['inspect', '--format', '[{{.HostConfig.Isolation}}]', name, `${name}-none`]);
    expect(inspect.stdout).toBe('[default]\n[]\n');
  });

  it('docker info shows the runtime driver, Linux and no isolation (as dockerd on Linux)', async () => {
    const info = await docker(t.dockerEnv, ['info', '--format', '{{json .Runtimes}} {{.DefaultRuntime}} {{.OSType}} [{{.Isolation}}]']);
    const [runtimes, def, os, iso] = info.stdout.trim().split(' ');
    expect(Object.keys(JSON.parse(runtimes!))).toEqual([def]);
    expect(['crun', 'runc']).toContain(def);
    expect(os).toBe('linux');
    expect(iso).toBe('[]');
  });
});
