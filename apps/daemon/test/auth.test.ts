import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { makeHtpasswd, makeTempDir, makeTestCA, startRegistry, startTokenIssuer, type RunningRegistry, type TempDir } from '@berth/fixtures';
import { EngineClient } from '@berth/engine-api';
import { UnauthorizedError } from '@berth/image-format';
import { startTestDaemon, type TestDaemon } from './support/daemon.js';
import { scriptedEngine } from './support/scripted-engine.js';

function docker(env: NodeJS.ProcessEnv, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile('docker', args, { env }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    child.stdin!.end(input ?? '');
  });
}

// POST /auth checks credentials against a real registry with basic auth.
describe('berthd /auth (docker login)', () => {
  let tmp: TempDir;
  let registry: RunningRegistry;
  let t: TestDaemon;

  beforeAll(async () => {
    tmp = await makeTempDir('berthd-auth-');
    const htpasswd = await makeHtpasswd(join(tmp.path, 'htpasswd'), 'alice', 's3cret');
    registry = await startRegistry({ htpasswdPath: htpasswd });
    t = await startTestDaemon({ engine: scriptedEngine().engine });
  });
  afterAll(async () => {
    await t?.stop();
    await registry?.stop();
    await tmp?.cleanup();
  });

  it('docker login succeeds with the right password and fails with a wrong one', async () => {
    const ok = await docker(t.dockerEnv, ['login', registry.host, '-u', 'alice', '--password-stdin'], 's3cret\n');
    expect(ok.stderr + ok.stdout).toContain('Login Succeeded');
    expect(ok.code).toBe(0);
    const bad = await docker(t.dockerEnv, ['login', registry.host, '-u', 'alice', '--password-stdin'], 'wrong\n');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/401 Unauthorized/);
  });

  it('docker login against a registry behind a token service (Bearer challenge)', async () => {
    const ca = await makeTestCA(join(tmp.path, 'ca'));
    const issuer = await startTokenIssuer({ signer: ca, users: { bob: 'pa55' } });
    const tokenRegistry = await startRegistry({ token: issuer.registryTokenOptions() });
    try {
      const ok = await docker(t.dockerEnv, ['login', tokenRegistry.host, '-u', 'bob', '--password-stdin'], 'pa55\n');
      expect(ok.stderr + ok.stdout).toContain('Login Succeeded');
      expect(issuer.requests.length).toBeGreaterThan(0);
      const bad = await docker(t.dockerEnv, ['login', tokenRegistry.host, '-u', 'bob', '--password-stdin'], 'nope\n');
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toMatch(/401/);
    } finally {
      await tokenRegistry.stop();
      await issuer.stop();
    }
  });

  it('EngineClient.auth maps a refusal to UnauthorizedError', async () => {
    const c = new EngineClient({ socketPath: t.socketPath });
    expect(await c.auth({ username: 'alice', password: 's3cret', serveraddress: registry.host })).toEqual({ Status: 'Login Succeeded' });
    await expect(c.auth({ username: 'alice', password: 'nope', serveraddress: `http://${registry.host}` })).rejects.toBeInstanceOf(UnauthorizedError);
    c.close();
  });
});
