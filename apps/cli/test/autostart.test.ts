import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berthRunner, buildCli, removeCli } from './support/cli.js';
import { removeDaemonNetwork } from '@berth/fixtures';

const berthdJs = join(dirname(fileURLToPath(import.meta.url)), '../../daemon/dist/berthd.js');

// With no -H and no BERTH_HOST, berth starts berthd itself. BERTH_RUN / BERTH_ROOT /
// BERTH_DAEMON_CONFIG point it at a temp run root, root and config, so this test never
// touches /run/berth. berthd is found on PATH (a wrapper around the built daemon).
describe('berth starts berthd in the background when nothing answers', () => {
  let dir: string;
  let bin: string;
  let env: NodeJS.ProcessEnv;
  const n = Math.floor(Math.random() * 0xffffff);
  const net = { bridge: `ba${n.toString(16).padStart(6, '0')}`, bip: `10.${190 + (n % 10)}.${(n >> 8) % 256}.0/24` };

  beforeAll(async () => {
    if (!existsSync(berthdJs)) throw new Error(`${berthdJs} is missing: build @berth/daemon first`);
    [bin, dir] = await Promise.all([buildCli(), mkdtemp(join(tmpdir(), 'berth-cli-autostart-'))]);
    const wrapper = join(dir, 'bin', 'berthd');
    await writeFile(join(dir, 'placeholder'), '');
    await (await import('node:fs/promises')).mkdir(join(dir, 'bin'));
    await writeFile(wrapper, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(berthdJs)} "$@"\n`);
    await chmod(wrapper, 0o755);
    await writeFile(join(dir, 'daemon.json'), JSON.stringify(net));
    env = {
      PATH: `${join(dir, 'bin')}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
      HOME: dir,
      BERTH_RUN: join(dir, 'run'),
      BERTH_ROOT: join(dir, 'root'),
      BERTH_DAEMON_CONFIG: join(dir, 'daemon.json'),
    };
  }, 120_000);

  afterAll(async () => {
    if (!dir) return;
    const pid = Number.parseInt(await readFile(join(dir, 'run', 'berthd.pid'), 'utf8').catch(() => ''), 10);
    if (Number.isInteger(pid) && pid > 0) {
      const { berth } = berthRunner(bin, env);
      const ids = (await berth(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) await berth(['rm', '-f', ...ids]);
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 100; i++) {
        try {
          process.kill(pid, 0);
        } catch {
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await removeDaemonNetwork(net.bridge, net.bip);
    await rm(dir, { recursive: true, force: true });
    await removeCli(bin);
  });

  it('the first command starts berthd detached and waits for it; the next reuses it', async () => {
    const { berth } = berthRunner(bin, env);
    const first = await berth(['ps'], { timeoutMs: 30_000 });
    expect(first).toEqual({ code: 0, stdout: 'CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n', stderr: '' });
    const pid = Number.parseInt(await readFile(join(dir, 'run', 'berthd.pid'), 'utf8'), 10);
    expect(pid).toBeGreaterThan(0);
    // it outlived the command that started it, and logs to the run root
    expect(() => process.kill(pid, 0)).not.toThrow();
    expect(await readFile(join(dir, 'run', 'berthd.log'), 'utf8')).toContain('listening on');
    const second = await berth(['version', '--format', '{{.Server.Version}}']);
    expect(second.code).toBe(0);
    expect(Number.parseInt(await readFile(join(dir, 'run', 'berthd.pid'), 'utf8'), 10)).toBe(pid);
  });

  it('run --rm busybox works with no registry: the built-in busybox (quick start)', async () => {
    const { berth } = berthRunner(bin, env);
    const r = await berth(['run', '--rm', 'busybox', 'echo', 'hello from berth'], { timeoutMs: 60_000 });
    expect(r.stdout).toBe('hello from berth\n');
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("Unable to find image 'busybox:latest' locally");
    const again = await berth(['run', '--rm', 'busybox', 'echo', 'again']);
    expect(again).toEqual({ code: 0, stdout: 'again\n', stderr: '' });
    expect((await berth(['images', '--format', '{{.Repository}}:{{.Tag}}'])).stdout).toBe('busybox:latest\n');
  });

  it('an explicit host that does not answer is an error, never a start', async () => {
    const { berth } = berthRunner(bin, { ...env, BERTH_HOST: `unix://${join(dir, 'nothing.sock')}` });
    const r = await berth(['ps']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`Cannot connect to the Berth daemon at unix://${join(dir, 'nothing.sock')}. Is berthd running?\n`);
  });
});
