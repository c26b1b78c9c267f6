// berthd ships SQLite's addon for one platform (dist/native/); on a system where that file
// does not load (musl, an older glibc or libstdc++), berthd must say so in one line, with
// what to do, and take the user's own better-sqlite3 build when there is one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { EngineClient } from '@berth/engine-api';
import { removeDaemonNetwork } from '@berth/fixtures';
import { isolatedNetworkConfig } from './support/daemon.js';

const run = promisify(execFile);
const APP = join(dirname(fileURLToPath(import.meta.url)), '..');

describe("berthd on a system its SQLite addon does not load on", () => {
  let dir: string;
  let bundle: string;
  const network = isolatedNetworkConfig();

  beforeAll(async () => {
    if (!existsSync(join(APP, 'dist', 'berthd.js'))) await run('pnpm', ['build'], { cwd: APP, timeout: 180_000 });
    dir = await mkdtemp(join(tmpdir(), 'berthd-addon-'));
    // the installed package: dist/ (its addon replaced by a file no dlopen accepts) and its
    // npm dependencies, without better-sqlite3 (berthd bundles it)
    const pkg = join(dir, 'pkg');
    await mkdir(join(pkg, 'dist', 'native'), { recursive: true });
    for (const f of await readdir(join(APP, 'dist'))) if (f.endsWith('.js')) await cp(join(APP, 'dist', f), join(pkg, 'dist', f));
    for (const f of await readdir(join(APP, 'dist', 'native'))) await writeFile(join(pkg, 'dist', 'native', f), 'not an ELF file\n');
    await cp(join(APP, 'package.json'), join(pkg, 'package.json'));
    await mkdir(join(pkg, 'node_modules'));
    for (const dep of ['commander', 'fastify', 'tar-stream', 'undici']) await symlink(realpathSync(join(APP, 'node_modules', dep)), join(pkg, 'node_modules', dep));
    bundle = join(pkg, 'dist', 'berthd.js');
    await writeFile(join(dir, 'daemon.json'), JSON.stringify(network));
  }, 200_000);
  afterAll(async () => {
    await removeDaemonNetwork(network.bridge, network.bip);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  // a user's environment: pnpm's NODE_PATH (set for the tests) would reach the workspace's better-sqlite3
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_PATH'));
  const args = (name: string): string[] => ['--root', join(dir, name, 'root'), '--run-root', join(dir, name, 'run'), '--host', `unix://${join(dir, name, 'run', 'berthd.sock')}`, '--config', join(dir, 'daemon.json')];

  it('exits with one line naming what the addon needs, why it did not load, and how to build one', async () => {
    const err = await run(bundle, args('a'), { env, timeout: 60_000 }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(1);
    const last = err!.stderr.trimEnd().split('\n').pop();
    expect(last).toMatch(
      /^berthd: the SQLite addon in this bundle is for Node 20 \(ABI \d+\) on linux-x64 with glibc \d+\.\d+ or later and libstdc\+\+ GLIBCXX_[\d.]+; it does not load on this system \(.*better_sqlite3-linux-x64-\d+\.node: (file too short|invalid ELF header)\)\. Build the addon for this system: apt-get install build-essential python3 && npm i -g better-sqlite3@\d+\.\d+\.\d+$/,
    );
  }, 90_000);

  it('takes a better-sqlite3 the user built instead', async () => {
    await symlink(realpathSync(join(APP, 'node_modules', 'better-sqlite3')), join(dirname(bundle), '..', 'node_modules', 'better-sqlite3'));
    const sock = join(dir, 'b', 'run', 'berthd.sock');
    let output = '';
    const child = spawn(bundle, args('b'), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const client = new EngineClient({ socketPath: sock });
    try {
      let up = false;
      for (let i = 0; i < 150 && !up && child.exitCode === null; i++) {
        up = await client.ping().then(() => true, () => false);
        if (!up) await new Promise((r) => setTimeout(r, 100));
      }
      expect(up, output).toBe(true);
      expect((await client.info()).DockerRootDir).toBe(join(dir, 'b', 'root'));
    } finally {
      client.close();
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 90_000);
});
