/*
 * The runtime conformance suite over HcsSimulator: every container is a process-isolated
 * compute system made from schema-validated documents, on the HCN NAT network, its
 * processes run by the simulator's guest. This proves the driver's HCS call sequences,
 * stdio plumbing and state handling; only test:hcs on a Windows host proves Windows.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { HcsSimulator } from '@berth/hcs/simulator';
import { runConformanceSuite } from '@berth/runtime/testsuite';
import { suitePrograms } from '@berth/runtime/fake';
import { HcnNetworkDriver, WindowsProcessDriver } from '../src/index.js';

const BASE = 'C:\\ProgramData\\berth\\layers\\nanoserver-base';
const stateDir = mkdtempSync(join(tmpdir(), 'berth-winproc-'));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

export const sim = new HcsSimulator({ programs: suitePrograms, files: { '/bin/busybox': randomBytes(300_000) } });
sim.addBaseLayer(BASE, { osVersion: '10.0.20348.2340' });

const makeDriver = () =>
  new WindowsProcessDriver({ hcs: sim, stateDir, scratchRoot: 'C:\\ProgramData\\berth\\scratch', hostProcessors: 4, network: new HcnNetworkDriver(sim, { stateFile: join(stateDir, 'network.json') }) });

runConformanceSuite('windows/process over HcsSimulator', makeDriver, {
  rootfs: async () => ({ layers: [BASE] }),
  baseSpec: { network: { mode: 'bridge' } },
  // a berthd restart: a new driver on the same stateDir and the same HCS
  reopen: makeDriver,
});
