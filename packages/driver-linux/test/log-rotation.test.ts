import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LinuxDriver } from '../src/index.js';
import { makeSandbox } from './helpers.js';
import { logText, uid } from './run-helper.js';

const sandbox = await makeSandbox('logrot');
afterAll(() => sandbox.cleanup());

// ~90 bytes a record, 60 lines every 0.8 s: a 4 KiB limit rotates at every check
const talker = ['sh', '-c', 'i=0; while [ $i -lt 600 ]; do echo "line $i padding padding padding"; i=$((i+1)); [ $((i % 60)) = 0 ] && sleep 0.8; done'];

async function expectRotated(driver: LinuxDriver, id: string, logPath: string): Promise<void> {
  const files = (await readdir(join(logPath, '..'))).filter((f) => f.startsWith('ctr.log')).sort();
  expect(files).toEqual(['ctr.log', 'ctr.log.1']);
  const numbers = (await logText(driver, id)).split('\n').filter(Boolean).map((l) => Number(l.split(' ')[1]));
  // older lines went, and what is kept is unbroken up to the last: the rename + reopen loses nothing
  expect(numbers.at(-1)).toBe(599);
  expect(numbers[0]).toBeGreaterThan(0);
  expect(numbers).toEqual(numbers.map((_, i) => numbers[0]! + i));
}

describe.each(['crun', 'runc'])('log limits with %s', (runtime) => {
  it('rotates a running container\'s log, keeps max-file files, loses no line; a new driver takes the watch over', async () => {
    const stateDir = join(sandbox.base, `state-${runtime}`);
    const logDir = join(sandbox.base, `logs-${runtime}`);
    const logPath = join(logDir, 'ctr.log');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(logDir);
    const first = new LinuxDriver({ stateDir, runtime });
    const id = uid(`rot-${runtime}`);
    await first.create({ id, rootfs: await sandbox.rootfs(), process: { args: talker }, network: { mode: 'none' }, logPath, logLimits: { maxSize: 4096, maxFiles: 2 } });
    await first.start(id);
    // berthd restarts: the old driver goes, a new one on the same state finds the container
    await new Promise((r) => setTimeout(r, 1000));
    await first.close();
    const driver = new LinuxDriver({ stateDir, runtime });
    try {
      await driver.list();
      await driver.wait(id);
      await expectRotated(driver, id, logPath);
      // the log is the caller's: delete leaves it (and its rotated file)
      await driver.delete(id);
      expect((await readdir(logDir)).sort()).toEqual(['ctr.log', 'ctr.log.1']);
    } finally {
      await driver.delete(id, { force: true }).catch(() => undefined);
      await driver.close();
    }
  });
});
