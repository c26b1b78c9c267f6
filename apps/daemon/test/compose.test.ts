import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from './support/daemon.js';
import { dockerOk, type CliResult } from './support/docker-cli.js';

/** Debian's docker-compose (v1, over docker-py): the compose flow end to end against berthd. */
function compose(env: NodeJS.ProcessEnv, cwd: string, args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile('docker-compose', args, { env, cwd, timeout: 120_000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const COMPOSE_FILE = `version: "3.8"
services:
  web:
    image: busybox
    command: sh -c "mkdir -p /www && echo hello-from-web > /www/index.html && httpd -f -p 80 -h /www"
    ports:
      - "127.0.0.1:0:80"
  client:
    image: busybox
    depends_on: [web]
    # the service name resolves through the project network's embedded DNS
    command: sh -c "for i in $$(seq 1 30); do wget -q -O- http://web/ && exit 0; sleep 0.2; done; exit 1"
`;

describe('docker-compose against berthd', () => {
  let t: TestDaemon;
  const project = `cmp${Math.random().toString(16).slice(2, 8)}`;
  beforeAll(async () => {
    t = await startTestDaemon();
    await t.daemon.engine.images.ensureBuiltin('busybox');
    await writeFile(join(t.dir, 'docker-compose.yml'), COMPOSE_FILE);
  });
  afterAll(async () => {
    if (t) {
      await compose(t.dockerEnv, t.dir, ['-p', project, 'down']);
      await t.stop();
    }
  });

  it('up: a project network, a published port, services reaching each other by name; down removes it all', async () => {
    const up = await compose(t.dockerEnv, t.dir, ['-p', project, 'up', '--abort-on-container-exit', '--exit-code-from', 'client']);
    expect(up.stdout).toContain('hello-from-web');
    expect(up.code).toBe(0);
    expect(await dockerOk(t.dockerEnv, ['network', 'ls', '--format', '{{.Name}}'])).toContain(`${project}_default`);
    const down = await compose(t.dockerEnv, t.dir, ['-p', project, 'down']);
    expect(down.code).toBe(0);
    expect((await dockerOk(t.dockerEnv, ['ps', '-aq'])).trim()).toBe('');
    expect(await dockerOk(t.dockerEnv, ['network', 'ls', '--format', '{{.Name}}'])).not.toContain(`${project}_default`);
  });
});
