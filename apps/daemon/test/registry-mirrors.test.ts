import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBusyboxLayout, pushLayoutWithSkopeo, startRegistry, type BusyboxLayout, type RunningRegistry } from '@berth/fixtures';
import { startTestDaemon, type TestDaemon } from './support/daemon.js';

function docker(env: NodeJS.ProcessEnv, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('docker', args, { env }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

// daemon.json `registry-mirrors` are Docker Hub pull-through mirrors: a pull of a Hub name
// (`mirtest:1` = docker.io/library/mirtest:1) is answered by the mirror. The machine has no
// route to Docker Hub, so a successful pull can only have come from the mirror.
describe('berthd registry-mirrors', () => {
  let mirror: RunningRegistry;
  let bb: BusyboxLayout;
  let t: TestDaemon;

  beforeAll(async () => {
    [mirror, bb] = await Promise.all([startRegistry(), buildBusyboxLayout()]);
    await pushLayoutWithSkopeo(bb.layoutDir, 'latest', `${mirror.host}/library/mirtest:1`);
    t = await startTestDaemon({ config: { 'registry-mirrors': [`http://${mirror.host}`] } });
  });
  afterAll(async () => {
    await t?.stop();
    await mirror?.stop();
  });

  it('pulls a Docker Hub name through the mirror and shows the mirror in docker info', async () => {
    const pull = await docker(t.dockerEnv, ['pull', 'mirtest:1']);
    expect(pull.stderr).toBe('');
    expect(pull.code).toBe(0);
    expect(pull.stdout).toContain(bb.manifestDigest);
    const images = await docker(t.dockerEnv, ['image', 'inspect', '--format', '{{index .RepoTags 0}}', 'mirtest:1']);
    expect(images.stdout.trim()).toBe('mirtest:1');
    const info = await docker(t.dockerEnv, ['info', '--format', '{{json .RegistryConfig.Mirrors}}']);
    expect(JSON.parse(info.stdout)).toEqual([`http://${mirror.host}`]);
  });
});
