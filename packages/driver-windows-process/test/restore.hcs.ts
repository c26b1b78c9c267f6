/*
 * Containers outlive the driver, against the real HCS of a Windows host (`pnpm run
 * test:hcs`, with the conformance suite): a compute system made with
 * ShouldTerminateOnLastHandleClosed false keeps running when the first driver closes every
 * handle; a second driver over a second binding finds it (HcsEnumerateComputeSystems by
 * Owner, HcsOpenComputeSystem, HcsOpenProcess) and can kill, wait for and delete it; an
 * exec the first started comes back by its pid with its exit code.
 * Not verified on Linux: it cannot run there and says so. Environment as conformance.hcs.ts.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openKoffiHcs } from '@berth/hcs/koffi';
import { HcnNetworkDriver, WindowsProcessDriver } from '../src/index.js';

if (process.platform !== 'win32') throw new Error('test:hcs drives the real Host Compute Service: run it on a Windows host (the default `test` runs restore.test.ts over HcsSimulator)');
const layers = (process.env.BERTH_HCS_LAYERS ?? '').split(';').filter(Boolean);
if (!layers.length) throw new Error('BERTH_HCS_LAYERS must name the image\'s layer folders, topmost first');

describe('windows/process over the host HCS: containers outlive the driver', () => {
  it('a second driver finds the running container the first left, and kills, waits for and deletes it', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'berth-hcs-restore-'));
    const scratchRoot = process.env.BERTH_HCS_SCRATCH ?? join(tmpdir(), 'berth-hcs-scratch');
    const stateFile = join(stateDir, 'network.json');
    const id = `restore-${randomBytes(4).toString('hex')}`;
    // the first binding stays loaded (its handles are closed by the driver): unloading the DLLs mid-process proves nothing
    const first = await openKoffiHcs();
    const d1 = new WindowsProcessDriver({ hcs: first, stateDir, scratchRoot, network: new HcnNetworkDriver(first, { stateFile }) });
    await d1.create({ id, rootfs: { layers }, process: { args: ['sh', '-c', 'echo up; sleep 600'] }, network: { mode: 'nat' } });
    await d1.start(id);
    const pid = (await d1.state(id)).pid;
    const ex = await d1.exec(id, { args: ['sh', '-c', 'sleep 5; exit 3'], id: 'exec-back' });
    ex.stdout.resume();
    ex.stderr.resume();
    await d1.close();

    const second = await openKoffiHcs();
    const d2 = new WindowsProcessDriver({ hcs: second, stateDir, scratchRoot, network: new HcnNetworkDriver(second, { stateFile }) });
    try {
      expect(await d2.state(id)).toMatchObject({ status: 'running', pid });
      const [back] = await d2.restoredExecs(id);
      expect(back).toMatchObject({ id: 'exec-back', process: { pid: ex.pid } });
      expect(await back!.process.exited).toBe(3);
      await d2.kill(id, 'SIGKILL');
      expect((await d2.wait(id)).exitCode).toBe(137);
      await d2.delete(id);
      expect((await second.enumerateComputeSystems({ Ids: [id] })).length).toBe(0);
    } finally {
      await d2.delete(id, { force: true }).catch(() => undefined);
      await d2.close();
    }
  });
});
