import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berthRunner, buildCli, removeCli } from './support/cli.js';

const run = promisify(execFile);
const berthdJs = join(dirname(fileURLToPath(import.meta.url)), '../../daemon/dist/berthd.js');
const RUNTIME = '/nonexistent/berth-host-check/crun';
const MESSAGE = `missing host programs: ${RUNTIME} (an OCI runtime); on Debian or Ubuntu: apt-get install crun`;

// A host without what driver-linux runs: berthd refuses to start and names the programs
// and the Debian packages in one line, and berth, which started it, says the same. The
// runtime named in daemon.json stands in for the missing programs (the check looks in
// the system folders too, as the driver does, so a narrow PATH alone hides nothing here;
// driver-linux's test/host-programs.test.ts covers every program with folders of its own).
describe('host programs missing', () => {
  let dir: string;
  let bin: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    if (!existsSync(berthdJs)) throw new Error(`${berthdJs} is missing: build @berth/daemon first`);
    [bin, dir] = await Promise.all([buildCli(), mkdtemp(join(tmpdir(), 'berth-host-check-'))]);
    await mkdir(join(dir, 'bin'));
    const wrapper = join(dir, 'bin', 'berthd');
    await writeFile(wrapper, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(berthdJs)} "$@"\n`);
    await chmod(wrapper, 0o755);
    await writeFile(join(dir, 'daemon.json'), JSON.stringify({ runtime: RUNTIME }));
    env = {
      PATH: `${join(dir, 'bin')}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
      HOME: dir,
      BERTH_RUN: join(dir, 'run'),
      BERTH_ROOT: join(dir, 'root'),
      BERTH_DAEMON_CONFIG: join(dir, 'daemon.json'),
    };
  }, 120_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    if (bin) await removeCli(bin);
  });

  it('berthd exits at start with one message naming them and their packages', async () => {
    const args = ['--root', join(dir, 'root'), '--run-root', join(dir, 'run'), '--host', `unix://${join(dir, 'run', 'd.sock')}`, '--config', join(dir, 'daemon.json')];
    const err = await run(process.execPath, [berthdJs, ...args]).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(1);
    expect(err?.stderr).toBe(`berthd: ${MESSAGE}\n`);
    expect(existsSync(join(dir, 'root'))).toBe(false);
  });

  it('berth, starting berthd for a command, passes the message on', async () => {
    const { berth } = berthRunner(bin, env);
    const r = await berth(['ps'], { timeoutMs: 30_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`berthd exited with code 1: ${MESSAGE}; see ${join(dir, 'run', 'berthd.log')}`);
  });
});
