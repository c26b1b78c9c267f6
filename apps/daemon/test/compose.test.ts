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

const BUILD_FILE = `version: "3.8"
services:
  app:
    build: ./app
    environment:
      - GREETING=hello
    volumes:
      - data:/data
  seed:
    image: busybox
    command: sh -c "echo seeded > /data/x"
    volumes:
      - data:/data
volumes:
  data: {}
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

  it('build, a named volume shared by services, run --rm, up -d, logs, exec, ps, down -v', async () => {
    const { mkdir } = await import('node:fs/promises');
    const dir = join(t.dir, 'built');
    await mkdir(join(dir, 'app'), { recursive: true });
    await writeFile(join(dir, 'docker-compose.yml'), BUILD_FILE);
    await writeFile(join(dir, 'app', 'Dockerfile'), 'FROM busybox\nENV GREETING=hi\nCOPY run.sh /run.sh\nCMD ["sh", "/run.sh"]\n');
    await writeFile(join(dir, 'app', 'run.sh'), 'echo "$GREETING from app, data=$(cat /data/x)"\nsleep 300\n');
    const p = `${project}b`;
    const ok = async (args: string[]): Promise<string> => {
      const r = await compose(t.dockerEnv, dir, ['-p', p, ...args]);
      expect(r.code, `docker-compose ${args.join(' ')}: ${r.stderr}`).toBe(0);
      return r.stdout;
    };
    await ok(['run', '--rm', 'seed']);
    await ok(['up', '-d', '--build', 'app']);
    let logs = '';
    for (let i = 0; i < 50 && !logs.includes('data=seeded'); i++) {
      logs = await ok(['logs', 'app']);
      if (!logs.includes('data=seeded')) await new Promise((r) => setTimeout(r, 100));
    }
    expect(logs).toContain('hello from app, data=seeded');
    expect(await ok(['exec', '-T', 'app', 'sh', '-c', 'echo exec-ok $GREETING'])).toBe('exec-ok hello\n');
    expect(await ok(['ps'])).toMatch(new RegExp(`${p}_app_1\\s+sh /run.sh\\s+Up`));
    await ok(['down', '-v']);
    expect((await dockerOk(t.dockerEnv, ['ps', '-aq'])).trim()).toBe('');
    expect(await dockerOk(t.dockerEnv, ['volume', 'ls', '-q'])).not.toContain(`${p}_data`);
  });
});
