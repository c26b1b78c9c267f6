/*
 * The runtime conformance suite against the real HCS of a Windows host (`pnpm run test:hcs`):
 * Hyper-V isolated Windows containers, and Linux ones when LinuxBootFiles are given.
 * Not verified on Linux: it cannot run there and says so.
 *
 * Environment (set by the Windows workflow):
 *   BERTH_HCS_LAYERS          the Windows image's layer folders, topmost first, `;`-separated
 *   BERTH_HCS_SCRATCH         folder for scratch layers (default %TEMP%\berth-hcs-scratch)
 *   BERTH_HCS_LCOW_LAYERS     a Linux image's layer folders (each with layer.vhd), optional
 *   BERTH_HCS_LINUX_BOOT_FILES  LinuxBootFiles folder (kernel, initrd.img), with the above
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openKoffiHcs } from '@berth/hcs/koffi';
import { runConformanceSuite } from '@berth/runtime/testsuite';
import { WindowsHypervDriver } from '../src/index.js';

if (process.platform !== 'win32') throw new Error('test:hcs drives the real Host Compute Service: run it on a Windows host (the default `test` runs the suite over HcsSimulator)');
const list = (v: string | undefined) => (v ?? '').split(';').filter(Boolean);
const layers = list(process.env.BERTH_HCS_LAYERS);
if (!layers.length) throw new Error('BERTH_HCS_LAYERS must name the image\'s layer folders, topmost first');

const driver = async () => new WindowsHypervDriver({
  hcs: await openKoffiHcs(),
  stateDir: mkdtempSync(join(tmpdir(), 'berth-hcs-')),
  scratchRoot: process.env.BERTH_HCS_SCRATCH ?? join(tmpdir(), 'berth-hcs-scratch'),
  linuxBootFiles: process.env.BERTH_HCS_LINUX_BOOT_FILES,
});

runConformanceSuite('windows/hyperv (WCOW) over the host HCS', driver, {
  rootfs: async () => ({ layers }),
  baseSpec: { isolation: 'hyperv', network: { mode: 'nat' } },
});

const lcow = list(process.env.BERTH_HCS_LCOW_LAYERS);
if (lcow.length) {
  runConformanceSuite('windows/hyperv (LCOW) over the host HCS', driver, {
    rootfs: async () => ({ layers: lcow }),
    baseSpec: { isolation: 'hyperv', platform: { os: 'linux', architecture: 'amd64' }, network: { mode: 'none' } },
  });
}
