import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { EngineClient } from '@berth/engine-api';
import { isolatedNetworkConfig } from './support/daemon.js';
import { removeDaemonNetwork, seededRegistry } from '@berth/fixtures';
import { docker, dockerOk } from './support/docker-cli.js';
import { criClient } from './support/cri-client.js';

const run = promisify(execFile);
const APP = join(dirname(fileURLToPath(import.meta.url)), '..');
const BUNDLE = join(APP, 'dist', 'berthd.js');

// The shipped artifact: dist/berthd.js (and its chunks) with every @berth/* package
// inside, and only npm dependencies resolved from node_modules.
describe('dist/berthd.js', () => {
  let dir: string;
  const network = isolatedNetworkConfig();

  beforeAll(async () => {
    if (!existsSync(BUNDLE)) await run('pnpm', ['build'], { cwd: APP, timeout: 180_000 });
    dir = await mkdtemp(join(tmpdir(), 'berthd-bundle-'));
    await writeFile(join(dir, 'daemon.json'), JSON.stringify(network));
  }, 200_000);
  afterAll(async () => {
    await removeDaemonNetwork(network.bridge, network.bip);
    await rm(dir, { recursive: true, force: true });
  });

  it('is a self-contained executable', async () => {
    const text = await readFile(BUNDLE, 'utf8');
    expect(text.startsWith('#!/usr/bin/env -S MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072 node --max-semi-space-size=1 --single-threaded\n')).toBe(true);
    expect((await stat(BUNDLE)).mode & 0o111).not.toBe(0);
    const imports = [...text.matchAll(/^import .* from ["']([^"']+)["'];?$/gm)].map((m) => m[1]);
    expect(imports.filter((m) => m?.startsWith('@berth/'))).toEqual([]);
    // loaded on first use through src/bundle/lazy-*.ts, not at start
    expect(imports).not.toContain('undici');
    expect(imports).not.toContain('tar-stream');
    expect((await run(BUNDLE, ['--version'])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('serves the docker CLI and stops cleanly on SIGTERM', async () => {
    const sock = join(dir, 'run', 'berthd.sock');
    const child = spawn(BUNDLE, ['--root', join(dir, 'root'), '--run-root', join(dir, 'run'), '--host', `unix://${sock}`, '--config', join(dir, 'daemon.json')], { stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const client = new EngineClient({ socketPath: sock });
    try {
      let up = false;
      for (let i = 0; i < 100 && !up; i++) {
        up = await client.ping().then(() => true, () => false);
        if (!up) await new Promise((r) => setTimeout(r, 100));
      }
      expect(up).toBe(true);
      const v = await docker({ PATH: process.env['PATH'], HOME: dir, DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: join(dir, 'dc') }, ['version', '--format', '{{.Server.APIVersion}}']);
      expect(v.stdout.trim()).toBe('1.50');
      expect((await client.info()).DockerRootDir).toBe(join(dir, 'root'));
      // the first registry request loads undici through the bundle's lazy shim
      const registry = await seededRegistry();
      try {
        const env = { PATH: process.env['PATH'], HOME: dir, DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: join(dir, 'dc') };
        await dockerOk(env, ['pull', registry.busybox]);
        expect(await dockerOk(env, ['images', '--format', '{{.Repository}}:{{.Tag}}'])).toContain(registry.busybox);
      } finally {
        await registry.stop();
      }
    } finally {
      client.close();
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    await expect(stat(sock)).rejects.toThrow(/ENOENT/);
  });

  it('serves the CRI from the @berth/cri it loads on demand, with the engine\'s errors understood', async () => {
    // the bundle's engine throws its own copy of @berth/image-format's errors, not @berth/cri's:
    // a missing image must still be "no image", a missing container NOT_FOUND (not UNKNOWN)
    const sock = join(dir, 'run2', 'berthd.sock');
    const criSock = join(dir, 'run2', 'cri.sock');
    const child = spawn(BUNDLE, ['--root', join(dir, 'root2'), '--run-root', join(dir, 'run2'), '--host', `unix://${sock}`, '--config', join(dir, 'daemon.json'), '--cri', `unix://${criSock}`], { stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const cri = criClient(criSock);
    try {
      let up = false;
      for (let i = 0; i < 150 && !up; i++) {
        up = await stat(criSock).then(() => true, () => false);
        if (!up) await new Promise((r) => setTimeout(r, 100));
      }
      expect(up).toBe(true);
      expect((await cri.rt('Version', {})).runtime_name).toBe('berth');
      expect((await cri.img('ImageStatus', { image: { image: 'registry.k8s.io/nothing:1' } })).image).toBeNull();
      await expect(cri.rt('ContainerStatus', { container_id: 'f'.repeat(64) })).rejects.toMatchObject({ code: 5 });
      await expect(cri.rt('PodSandboxStatus', { pod_sandbox_id: 'f'.repeat(64) })).rejects.toMatchObject({ code: 5 });
    } finally {
      cri.close();
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
