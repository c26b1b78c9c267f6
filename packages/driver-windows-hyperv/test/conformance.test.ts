/*
 * The runtime conformance suite over HcsSimulator, twice: Windows images in a WCOW
 * utility VM and Linux images in an LCOW one. Every document (the VM, its VSMB shares and
 * SCSI disks, the hosted container) is schema-validated and checked by the simulator as
 * HCS would; pause freezes the utility VM. LCOW runs on the HCN NAT network (the endpoint a
 * network adapter of the VM, in the guest's namespace) with the GCS bridge in the loop: the
 * driver listens on the simulator's in-process hvsock, the simulated guest's GCS dials in
 * and speaks protocol version 4, every process' stdio is its own connection, and every
 * write is cut into pieces of 1021 bytes, so most frames arrive in parts.
 * Only test:hcs on a Windows host proves Windows.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { HcsSimulator } from '@berth/hcs/simulator';
import { runConformanceSuite } from '@berth/runtime/testsuite';
import { suitePrograms } from '@berth/runtime/fake';
import { HcnNetworkDriver } from '@berth/driver-windows-process';
import { WindowsHypervDriver } from '../src/index.js';

const WIN_BASE = 'C:\\ProgramData\\berth\\layers\\servercore-base';
const LINUX_LAYER = 'C:\\ProgramData\\berth\\layers\\busybox';
const BOOT = 'C:\\Program Files\\Linux Containers';
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const made = new Map<WindowsHypervDriver, () => WindowsHypervDriver>();

function driver() {
  const sim = new HcsSimulator({ programs: suitePrograms, files: { '/bin/busybox': randomBytes(300_000) }, hvsockChunk: 1021 });
  sim.addBaseLayer(WIN_BASE, { osVersion: '10.0.17763.5820' }); // Hyper-V runs older builds than the host's
  sim.addBaseLayer(LINUX_LAYER, { osVersion: '', os: 'linux' });
  sim.addLinuxBootFiles(BOOT);
  const stateDir = mkdtempSync(join(tmpdir(), 'berth-winhv-'));
  dirs.push(stateDir);
  const make = (): WindowsHypervDriver => {
    const network = new HcnNetworkDriver(sim, { stateFile: join(stateDir, 'network.json') });
    const d = new WindowsHypervDriver({ hcs: sim, stateDir, scratchRoot: 'C:\\ProgramData\\berth\\scratch', linuxBootFiles: BOOT, copyFile: async () => undefined, hvsock: sim.hvsock, network });
    made.set(d, make);
    return d;
  };
  return make();
}

runConformanceSuite('windows/hyperv (WCOW) over HcsSimulator', driver, {
  rootfs: async () => ({ layers: [WIN_BASE] }),
  baseSpec: { network: { mode: 'bridge' } },
  // a berthd restart: a new driver on the same stateDir and the same HCS (LCOW's execs end with the bridge: restore.test.ts)
  reopen: (closed) => made.get(closed as WindowsHypervDriver)!(),
});

runConformanceSuite('windows/hyperv (LCOW) over HcsSimulator', driver, {
  rootfs: async () => ({ layers: [LINUX_LAYER] }),
  baseSpec: { platform: { os: 'linux', architecture: 'amd64' }, network: { mode: 'bridge' } },
});
