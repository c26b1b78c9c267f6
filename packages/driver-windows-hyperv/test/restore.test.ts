/*
 * A Hyper-V container outlives the driver as a process one does: its utility VM and the
 * hosted container stay (both made with ShouldTerminateOnLastHandleClosed false), and a new
 * driver on the same state, over a new client of the same HCS, follows the container, opens
 * the VM by id for pause and removal, and leaves nothing behind on delete.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HcsSimulator } from '@berth/hcs/simulator';
import type { FakeProgram } from '@berth/runtime/fake';
import { WindowsHypervDriver } from '../src/index.js';

const BASE = 'C:\\berth\\layers\\base';
const stateDir = mkdtempSync(join(tmpdir(), 'berth-winhv-restore-'));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

const programs = (args: string[]): FakeProgram | undefined =>
  args[0] === 'server'
    ? async (p) => {
        p.stdout('up\n');
        for (;;) await p.sleep(0.05);
      }
    : undefined;

const service = new HcsSimulator({ programs });
service.addBaseLayer(BASE, { osVersion: '10.0.20348.2340' });
afterAll(() => service.close());

const driverOn = (hcs: HcsSimulator) => new WindowsHypervDriver({ hcs, stateDir, scratchRoot: 'C:\\berth\\scratch', copyFile: async () => undefined });

describe('windows/hyperv: containers outlive the driver', () => {
  it('a new driver follows the hosted container, pauses and removes its utility VM', async () => {
    const first = service.connect();
    const d1 = driverOn(first);
    await d1.create({ id: 'hv1', rootfs: { layers: [BASE] }, process: { args: ['server'] }, network: { mode: 'none' } });
    await d1.start('hv1');
    const pid = (await d1.state('hv1')).pid;
    await d1.close();
    await first.close();
    expect(service.stateOf('hv1@uvm')).toBe('Running');
    expect(service.stateOf('hv1')).toBe('Running');

    const second = service.connect();
    const d2 = driverOn(second);
    try {
      expect(await d2.state('hv1')).toMatchObject({ status: 'running', pid });
      await d2.pause('hv1');
      expect(service.stateOf('hv1@uvm')).toBe('Paused');
      expect((await d2.state('hv1')).paused).toBe(true);
      await d2.unpause('hv1');
      await d2.kill('hv1', 'SIGKILL');
      expect((await d2.wait('hv1')).exitCode).toBe(137);
      let out = '';
      for await (const e of d2.logs('hv1')) out += e.data.toString();
      expect(out).toBe('up\n');
      await d2.delete('hv1');
      expect(service.stateOf('hv1@uvm')).toBeUndefined();
      expect(service.stateOf('hv1')).toBeUndefined();
      expect(service.storage.writable.size).toBe(0);
    } finally {
      await d2.close();
      await second.close();
    }
  });
});

describe('windows/hyperv: an LCOW container does not outlive the driver', () => {
  it('is reported ended after a restart, its execs too (its GCS bridge went with the driver), and its removal ends the utility VM', async () => {
    const LINUX = 'C:\\berth\\layers\\busybox';
    const BOOT = 'C:\\Program Files\\Linux Containers';
    const lcowState = mkdtempSync(join(tmpdir(), 'berth-winhv-lcow-restore-'));
    const sim = new HcsSimulator({ programs });
    sim.addBaseLayer(LINUX, { osVersion: '', os: 'linux' });
    sim.addLinuxBootFiles(BOOT);
    const lcowDriver = (hcs: HcsSimulator) =>
      new WindowsHypervDriver({ hcs, stateDir: lcowState, scratchRoot: 'C:\\berth\\scratch', linuxBootFiles: BOOT, copyFile: async () => undefined, hvsock: hcs.hvsock });
    const first = sim.connect();
    const d1 = lcowDriver(first);
    const second = sim.connect();
    const d2 = lcowDriver(second);
    try {
      await d1.create({ id: 'lc1', rootfs: { layers: [LINUX] }, process: { args: ['server'] }, network: { mode: 'none' }, platform: { os: 'linux', architecture: 'amd64' } });
      await d1.start('lc1');
      expect((await d1.state('lc1')).status).toBe('running');
      const ex = await d1.exec('lc1', { args: ['server'], id: 'lcow-exec' });
      ex.stdout.resume();
      ex.stderr.resume();
      await d1.close();
      await first.close();

      const after = await d2.state('lc1');
      expect(after).toMatchObject({ status: 'stopped', exitCode: 255 });
      // its exec went with the bridge as the container did: reported ended, 255
      const execs = await d2.restoredExecs('lc1');
      expect(execs.map((x) => [x.id, x.spec.args, x.process.pid])).toEqual([['lcow-exec', ['server'], ex.pid]]);
      expect(await execs[0]!.process.exited).toBe(255);
      await expect(d2.start('lc1')).rejects.toThrow(/LCOW|guest connection/);
      await d2.delete('lc1');
      expect(sim.stateOf('lc1@uvm')).toBeUndefined();
    } finally {
      await d2.close();
      await second.close();
      await sim.close();
      rmSync(lcowState, { recursive: true, force: true });
    }
  });
});
