import { spawnSync } from 'node:child_process';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectCgroups, LinuxDriver } from '../src/index.js';
import { makeSandbox } from './helpers.js';
import { logText, uid } from './run-helper.js';

// crun's start and delete are done by the driver itself (exec.fifo; state dir and cgroup):
// crun must see the same as after its own commands, and what the driver does not expect
// still gets crun's answer.
let sandbox: Awaited<ReturnType<typeof makeSandbox>>;
let driver: LinuxDriver;
const crunState = (id: string): { status?: string; pid?: number } => {
  const r = spawnSync('crun', ['--root', join(sandbox.stateDir, 'runtime'), 'state', id], { encoding: 'utf8' });
  return r.status === 0 ? (JSON.parse(r.stdout) as { status?: string; pid?: number }) : {};
};

beforeAll(async () => {
  sandbox = await makeSandbox('crunstart');
  driver = new LinuxDriver({ stateDir: sandbox.stateDir });
});
afterAll(async () => {
  await driver.close();
  await sandbox.cleanup();
});

describe('crun start and delete without a runtime process', () => {
  it('a started container is running to crun, its process runs, its exec.fifo is gone', async () => {
    const id = uid('fifo');
    await driver.create({ id, rootfs: await sandbox.rootfs(), process: { args: ['sh', '-c', 'echo started; exec sleep 30'] }, network: { mode: 'none' } });
    expect(crunState(id).status).toBe('created');
    await driver.start(id);
    expect(crunState(id).status).toBe('running');
    await expect(stat(join(sandbox.stateDir, 'runtime', id, 'exec.fifo'))).rejects.toThrow(/ENOENT/);
    for (let i = 0; i < 50 && !(await logText(driver, id)).includes('started'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await logText(driver, id)).toContain('started');
    // a second start is refused, as before
    await expect(driver.start(id)).rejects.toThrow(/already running/);
    await driver.delete(id, { force: true });
  });

  it('what the driver does not expect (no exec.fifo) gets crun\'s own answer', async () => {
    const id = uid('nofifo');
    await driver.create({ id, rootfs: await sandbox.rootfs(), process: { args: ['true'] }, network: { mode: 'none' } });
    await rm(join(sandbox.stateDir, 'runtime', id, 'exec.fifo'));
    await expect(driver.start(id)).rejects.toThrow(/crun start: .*exec\.fifo/);
    await driver.delete(id, { force: true });
  });

  it('deleting an exited container kills what it left in its cgroup and leaves nothing of crun\'s', async () => {
    const id = uid('leftover');
    // a process that outlives the container's init: its own session, so the init's exit
    // (the namespace's end) is what must take it; with the host's PID namespace nothing does
    await driver.create({ id, rootfs: await sandbox.rootfs(), process: { args: ['sh', '-c', 'setsid sleep 1009 & exit 0'] }, network: { mode: 'none' }, hostNamespaces: ['pid'] });
    await driver.start(id);
    expect((await driver.wait(id)).exitCode).toBe(0);
    const cg = await detectCgroups();
    const procs = async (): Promise<string> => {
      for (const m of cg.v1.values()) {
        const text = await readFile(join(m, 'berth', id, 'cgroup.procs'), 'utf8').catch(() => undefined);
        if (text !== undefined) return text;
      }
      return '';
    };
    await driver.delete(id);
    expect(await procs()).toBe('');
    await expect(stat(join(sandbox.stateDir, 'runtime', id))).rejects.toThrow(/ENOENT/);
    for (const m of [...cg.v1.values(), ...(cg.unified ? [cg.unified] : [])]) await expect(stat(join(m, 'berth', id))).rejects.toThrow(/ENOENT/);
    expect(spawnSync('pgrep', ['-f', '^sleep 1009$'], { encoding: 'utf8' }).stdout.trim()).toBe('');
  });
});
