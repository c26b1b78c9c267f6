import { describe, expect, it } from 'vitest';
import { useTestDaemon } from './support/fixture.js';
import { docker } from './support/docker-cli.js';

// This machine (and CI) reaches no public registry: a pull of busybox must fall back to the
// built-in image made from the host's busybox-static, for any client, not only `berth`.
describe('built-in busybox when no registry is reachable', () => {
  const t = useTestDaemon();

  it('docker pull busybox gets the built-in image, and it runs', async () => {
    const pull = await docker(t.dockerEnv, ['pull', 'busybox'], { timeoutMs: 120_000 });
    expect(pull.code).toBe(0);
    expect(pull.stdout).toContain("using the built-in busybox image (made from the host's busybox-static)");
    expect(pull.stdout).toMatch(/Digest: sha256:[0-9a-f]{64}/);
    const run = await docker(t.dockerEnv, ['run', '--rm', 'busybox', 'echo', 'hello from berth']);
    expect(run).toEqual({ code: 0, stdout: 'hello from berth\n', stderr: '' });
  });

  it('other images still fail with the registry error', async () => {
    const pull = await docker(t.dockerEnv, ['pull', 'alpine'], { timeoutMs: 120_000 });
    expect(pull.code).not.toBe(0);
    expect(pull.stderr).toMatch(/unreachable/);
  });
});
