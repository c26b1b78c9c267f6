/*
 * The host view of a Windows container beyond the conformance suite: dockerd's Windows
 * top table (its titles, go-units sizes, CPU time format, the refusal of ps arguments),
 * and the mounted scratch as openRoot's directory: the same files the container reads,
 * gone with the container.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HcsSimulator } from '@berth/hcs/simulator';
import type { ContainerSpec } from '@berth/runtime';
import { WindowsProcessDriver } from '../src/index.js';
import { humanSize, windowsTop } from '../src/host-view.js';

const BASE = 'C:\\berth\\layers\\base';
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function setup() {
  const sim = new HcsSimulator();
  sim.addBaseLayer(BASE, { osVersion: '10.0.20348.2340' });
  const stateDir = mkdtempSync(join(tmpdir(), 'berth-winproc-hv-'));
  dirs.push(stateDir);
  return { sim, driver: new WindowsProcessDriver({ hcs: sim, stateDir, scratchRoot: 'C:\\berth\\scratch' }) };
}

const spec = (id: string, args: string[]): ContainerSpec => ({ id, rootfs: { layers: [BASE] }, process: { args }, network: { mode: 'none' } });

describe('windows top', () => {
  it('sizes as go-units HumanSize: decimal units, 4 significant digits', () => {
    expect(humanSize(0)).toBe('0B');
    expect(humanSize(999)).toBe('999B');
    expect(humanSize(1000)).toBe('1kB');
    expect(humanSize(1_572_864)).toBe('1.573MB');
    expect(humanSize(123_456_789)).toBe('123.5MB');
    expect(humanSize(5e9)).toBe('5GB');
  });

  it("makes dockerd's table: Name, PID, CPU (user+kernel as hh:mm:ss.mmm), Private Working Set", () => {
    const t = windowsTop([
      { ProcessId: 4, ImageName: 'cmd.exe', UserTime100ns: 610_000_000, KernelTime100ns: 5_000_000, MemoryWorkingSetPrivateBytes: 1_572_864 },
      { ProcessId: 8, ImageName: 'ping.exe' },
    ]);
    expect(t.titles).toEqual(['Name', 'PID', 'CPU', 'Private Working Set']);
    expect(t.processes).toEqual([
      ['cmd.exe', '4', '00:01:01.500', '1.573MB'],
      ['ping.exe', '8', '00:00:00.000', '0B'],
    ]);
  });

  it('lists a running container from HCS and refuses ps arguments as dockerd does', async () => {
    const { driver } = setup();
    await driver.create(spec('top1', ['sleep', '30']));
    // as dockerd: ps arguments are refused before the container's state is looked at
    await expect(driver.processes('top1', { psArgs: '-ef' })).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(driver.processes('top1')).rejects.toMatchObject({ code: 'Conflict' });
    await driver.start('top1');
    try {
      const t = await driver.processes('top1');
      expect(t.processes.map((r) => r[0])).toEqual(['sleep.exe']);
      await expect(driver.processes('top1', { psArgs: 'aux' })).rejects.toMatchObject({ code: 'InvalidArgument', message: 'Windows does not support arguments to top' });
      // no arguments is not an argument
      await expect(driver.processes('top1', { psArgs: '' })).resolves.toBeTruthy();
    } finally {
      await driver.delete('top1', { force: true });
    }
  });
});

describe('windows/process openRoot', () => {
  it("is the mounted scratch: the container reads the host's files there, and it goes with the container", async () => {
    const { sim, driver } = setup();
    await driver.create(spec('root1', ['sleep', '30']));
    await driver.start('root1');
    const root = await driver.openRoot('root1');
    writeFileSync(join(root.path, 'from-host.txt'), 'written on the host\r\n');
    const p = await driver.exec('root1', { args: ['cat', 'C:\\from-host.txt'] });
    const out: Buffer[] = [];
    p.stdout.on('data', (d: Buffer) => out.push(d));
    expect(await p.exited).toBe(0);
    expect(Buffer.concat(out).toString()).toBe('written on the host\r\n');
    await root.release();
    await driver.delete('root1', { force: true });
    expect(existsSync(root.path)).toBe(false);
    await sim.close();
  });
});
