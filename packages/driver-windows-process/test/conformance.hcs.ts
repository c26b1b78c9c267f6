/*
 * The runtime conformance suite against the real HCS of a Windows host (`pnpm run test:hcs`).
 * Not verified on Linux: it cannot run there and says so.
 *
 * Environment (set by the Windows workflow):
 *   BERTH_HCS_LAYERS   the image's layer folders, topmost first, `;`-separated
 *                      (e.g. nanoserver:ltsc2022 plus a layer with busybox-w32 as sh.exe)
 *   BERTH_HCS_SCRATCH  folder for the containers' scratch layers (default %TEMP%\berth-hcs-scratch)
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openKoffiHcs } from '@berth/hcs/koffi';
import { runConformanceSuite } from '@berth/runtime/testsuite';
import { WindowsProcessDriver } from '../src/index.js';

if (process.platform !== 'win32') throw new Error('test:hcs drives the real Host Compute Service: run it on a Windows host (the default `test` runs the suite over HcsSimulator)');
const layers = (process.env.BERTH_HCS_LAYERS ?? '').split(';').filter(Boolean);
if (!layers.length) throw new Error('BERTH_HCS_LAYERS must name the image\'s layer folders, topmost first');

runConformanceSuite('windows/process over the host HCS', async () => new WindowsProcessDriver({
  hcs: await openKoffiHcs(),
  stateDir: mkdtempSync(join(tmpdir(), 'berth-hcs-')),
  scratchRoot: process.env.BERTH_HCS_SCRATCH ?? join(tmpdir(), 'berth-hcs-scratch'),
  hostProcessors: (await import('node:os')).availableParallelism(),
}), {
  rootfs: async () => ({ layers }),
  baseSpec: { network: { mode: 'nat' } },
});
