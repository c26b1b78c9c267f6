import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBigImageLayout, pushLayoutWithSkopeo, startRegistry, type RunningRegistry } from '@berth/fixtures';
import { Engine } from '../src/index.js';
import { linuxDriverSet } from '@berth/driver-linux';

let registry: RunningRegistry;
let ref: string;
beforeAll(async () => {
  const big = await buildBigImageLayout(undefined, { scale: 0.2 });
  registry = await startRegistry();
  ref = `${registry.host}/crash/big:1`;
  await pushLayoutWithSkopeo(big.layoutDir, 'latest', ref);
});
afterAll(async () => {
  await registry?.stop();
});

describe('a pull killed with SIGKILL', () => {
  it('leaves a root that opens cleanly and where the pull can be redone', async () => {
    const dir = await mkdtemp('/tmp/be-');
    const root = join(dir, 'root');
    const runRoot = join(dir, 'run');
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', fileURLToPath(new URL('./child-pull.ts', import.meta.url)), root, runRoot, ref], {
      stdio: ['ignore', 'pipe', 'inherit'],
      cwd: fileURLToPath(new URL('..', import.meta.url)),
    });
    let engine: Engine | undefined;
    try {
      // Kill it once the first layer is in and others are still on their way.
      const seen = await new Promise<string>((resolve, reject) => {
        let buf = '';
        child.stdout.on('data', (d: Buffer) => {
          buf += d.toString();
          if (/Download complete|PULLED/.test(buf)) resolve(buf);
        });
        child.on('exit', (code) => reject(new Error(`child exited ${code}: ${buf}`)));
        setTimeout(() => reject(new Error('child timed out')), 50_000);
      });
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      expect(seen).toMatch(/Pulling fs layer/);
      engine = await Engine.open({ drivers: linuxDriverSet,  root, runRoot });
      // No half-made image is visible, and the scratch dirs were swept.
      const listed = await engine.images.list();
      expect(listed.every((i) => i.RepoTags.length === 0 || i.RepoTags.includes(ref))).toBe(true);
      expect((await readdir(root)).filter((n) => n.startsWith('tmp-'))).toEqual([]);
      const img = await engine.images.pull(ref);
      expect(img.RootFS.Layers.length).toBeGreaterThan(1);
      const { Id } = await engine.containers.create({ Image: ref, Cmd: ['/x'], HostConfig: { NetworkMode: 'none' } });
      const tar = await engine.containers.export(Id);
      let bytes = 0;
      for await (const c of tar) bytes += (c as Buffer).length;
      expect(bytes).toBeGreaterThan(1_000_000);
      await engine.containers.remove(Id);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await engine?.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
