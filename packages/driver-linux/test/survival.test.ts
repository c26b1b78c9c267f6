import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { LinuxDriver } from '../src/index.js';
import { makeSandbox } from './helpers.js';
import { logText, uid } from './run-helper.js';

const sandbox = await makeSandbox('survive');
afterAll(() => sandbox.cleanup());

const script = fileURLToPath(new URL('./start-detached.ts', import.meta.url));

describe.each(['crun', 'runc'])('survival with %s', (runtime) => {
  it('a container outlives the process that started it; a new driver takes over', async () => {
    const stateDir = `${sandbox.stateDir}-${runtime}`;
    const rootfs = (await sandbox.rootfs()).path as string;
    const id = uid(`surv-${runtime}`);
    const child = spawn(process.execPath, ['--import', 'tsx', script, stateDir, rootfs, id, runtime], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const childExit = new Promise<unknown>((r) => child.on('exit', r));
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error(`child did not start the container: ${out}`)), 30_000);
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('started')) {
          clearTimeout(t);
          resolve();
        }
      });
      child.on('exit', (code) => reject(new Error(`child exited ${code}: ${out}`)));
    });
    child.kill('SIGKILL');
    await childExit;

    const driver = new LinuxDriver({ stateDir, runtime });
    try {
      const st = await driver.state(id);
      expect(st.status).toBe('running');
      expect((await driver.list()).map((c) => c.id)).toContain(id);
      let out = '';
      for (let i = 0; i < 100 && !out.includes('hello-from-detached'); i++) {
        out = await logText(driver, id);
        if (!out.includes('hello-from-detached')) await new Promise((r) => setTimeout(r, 50));
      }
      expect(out).toContain('hello-from-detached');
      await driver.kill(id, 'SIGTERM');
      const exit = await driver.wait(id);
      expect(exit.exitCode).toBe(7);
      expect(await logText(driver, id)).toContain('bye');
      expect((await driver.state(id)).exitCode).toBe(7);
      await driver.delete(id);
    } finally {
      await driver.delete(id, { force: true }).catch(() => undefined);
      await driver.close();
    }
  });
});

describe('process exit', () => {
  it('a process that started a container can exit on its own (nothing holds it)', async () => {
    const stateDir = `${sandbox.stateDir}-exit`;
    const rootfs = (await sandbox.rootfs()).path as string;
    const id = uid('surv-exit');
    const child = spawn(process.execPath, ['--import', 'tsx', script, stateDir, rootfs, id, 'crun', 'exit'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    clearTimeout(timer);
    expect(code).toBe(0);
    const driver = new LinuxDriver({ stateDir, runtime: 'crun' });
    try {
      expect((await driver.state(id)).status).toBe('running');
    } finally {
      await driver.delete(id, { force: true });
      await driver.close();
    }
  });
});
