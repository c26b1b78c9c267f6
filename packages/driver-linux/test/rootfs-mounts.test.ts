import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBusyboxRootfs } from '@berth/fixtures';
import { LinuxDriver } from '../src/index.js';
import { makeSandbox } from './helpers.js';
import { logText, uid } from './run-helper.js';

let sandbox: Awaited<ReturnType<typeof makeSandbox>>;
let driver: LinuxDriver;

beforeAll(async () => {
  sandbox = await makeSandbox('rootfs');
  driver = new LinuxDriver({ stateDir: sandbox.stateDir });
});
afterAll(async () => {
  await driver.close();
  await sandbox.cleanup();
});

describe('rootfs from snapshot mounts', () => {
  it('mounts an overlay of 128 long-named lowers (more than a page of mount data)', async () => {
    const layersDir = join(sandbox.base, 'a-fairly-long-directory-name-for-layers', 'sha256');
    const lowers: string[] = [];
    for (let i = 0; i < 128; i++) {
      // like a content store: one 64-hex directory per layer
      const dir = join(layersDir, `${i.toString(16).padStart(64, 'f')}`, 'fs');
      await mkdir(join(dir, 'layers'), { recursive: true });
      await writeFile(join(dir, 'layers', String(i)), `${i}\n`);
      lowers.push(dir);
    }
    // the top lower comes first in lowerdir; busybox is the bottom layer
    await buildBusyboxRootfs(lowers[127] as string);
    await writeFile(join(lowers[0] as string, 'first.txt'), 'from the first lower\n');
    await writeFile(join(lowers[127] as string, 'last.txt'), 'from the last lower\n');
    const upper = join(sandbox.base, 'deep-upper');
    const work = join(sandbox.base, 'deep-work');
    await mkdir(upper);
    await mkdir(work);
    const options = [`lowerdir=${lowers.join(':')}`, `upperdir=${upper}`, `workdir=${work}`];
    expect(options.join(',').length).toBeGreaterThan(8192);

    const id = uid('deep');
    await driver.create({
      id,
      rootfs: { mounts: [{ type: 'overlay', source: 'overlay', options }] },
      process: { args: ['sh', '-c', 'cat /first.txt /last.txt; ls /layers | wc -l; echo up > /up.txt'] },
      network: { mode: 'none' },
    });
    await driver.start(id);
    expect((await driver.wait(id)).exitCode).toBe(0);
    const out = await logText(driver, id, 'stdout');
    expect(out).toContain('from the first lower');
    expect(out).toContain('from the last lower');
    expect(out).toContain('128');
    expect(await readFile(join(upper, 'up.txt'), 'utf8')).toBe('up\n');
    await driver.delete(id);
    expect(await readFile('/proc/self/mountinfo', 'utf8')).not.toContain(id);
  });

  it('mounts a bind snapshot (native snapshotter); writes land in its directory', async () => {
    const dir = (await sandbox.rootfs()).path as string;
    const id = uid('bind');
    await driver.create({
      id,
      rootfs: { mounts: [{ type: 'bind', source: dir, options: ['rbind', 'rw'] }] },
      process: { args: ['sh', '-c', 'echo hi > /written.txt'] },
      network: { mode: 'none' },
    });
    await driver.start(id);
    expect((await driver.wait(id)).exitCode).toBe(0);
    await driver.delete(id);
    expect(await readFile(join(dir, 'written.txt'), 'utf8')).toBe('hi\n');
    expect(await readFile('/proc/self/mountinfo', 'utf8')).not.toContain(id);
  });
});
