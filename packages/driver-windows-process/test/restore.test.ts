/*
 * Containers outlive the driver (RuntimeDriver's contract, as driver-linux's survival
 * test proves with conmon): a driver closed as berthd is, and a new one on the same
 * stateDir over a new client of the same HCS service (vmcompute keeps compute systems,
 * layers and HCN state; berthd only holds handles), finds every container again: running
 * ones followed (output, stop, wait), one that ended meanwhile with its own exit code and
 * the output it wrote meanwhile, one whose compute system is gone with Docker's 255.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HcsSimulator } from '@berth/hcs/simulator';
import type { FakeProgram } from '@berth/runtime/fake';
import type { ContainerSpec, RuntimeDriver } from '@berth/runtime';
import { HcnNetworkDriver, WindowsProcessDriver } from '../src/index.js';

const BASE = 'C:\\berth\\layers\\base';
const stateDir = mkdtempSync(join(tmpdir(), 'berth-winrestore-'));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

const programs = (args: string[]): FakeProgram | undefined => {
  if (args[0] === 'server')
    return async (p) => {
      p.trap(15, () => {
        p.stdout('bye\n');
        p.exit(7);
      });
      p.stdout('up\n');
      for (;;) await p.sleep(0.05);
    };
  if (args[0] === 'later')
    return async (p) => {
      p.stdout('soon\n');
      await p.sleep(1);
      p.stdout('late\n');
      return 4;
    };
  if (args[0] === 'quick')
    return async (p) => {
      p.stdout('quick\n');
      return 3;
    };
  return undefined;
};

/** The vmcompute service: outlives every driver. */
const service = new HcsSimulator({ programs });
service.addBaseLayer(BASE, { osVersion: '10.0.20348.2340' });
afterAll(() => service.close());

function driverOn(hcs: HcsSimulator): WindowsProcessDriver {
  return new WindowsProcessDriver({ hcs, stateDir, scratchRoot: 'C:\\berth\\scratch', network: new HcnNetworkDriver(hcs, { stateFile: join(stateDir, 'network.json') }) });
}

const spec = (id: string, args: string[]): ContainerSpec => ({ id, rootfs: { layers: [BASE] }, process: { args }, network: { mode: 'bridge', ports: [{ hostPort: 18080, containerPort: 80 }].filter(() => id === 'server') } });

async function logText(d: RuntimeDriver, id: string): Promise<string> {
  let out = '';
  for await (const e of d.logs(id)) out += e.data.toString();
  return out;
}

async function until(f: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200 && !(await f()); i++) await new Promise((r) => setTimeout(r, 25));
}

describe('windows/process: containers outlive the driver', () => {
  it('a new driver on the same state takes back running, ended, created, stopped and lost containers', async () => {
    const first = service.connect();
    const d1 = driverOn(first);
    await d1.create(spec('server', ['server']));
    await d1.start('server');
    await d1.create(spec('later', ['later']));
    await d1.start('later');
    await d1.create(spec('created', ['server']));
    await d1.create(spec('stopped', ['quick']));
    await d1.start('stopped');
    await d1.wait('stopped');
    await d1.create(spec('lost', ['server']));
    await d1.start('lost');
    await until(async () => (await logText(d1, 'server')) === 'up\n' && (await logText(d1, 'later')) === 'soon\n');
    expect((await d1.state('later')).status).toBe('running');
    const pid = (await d1.state('server')).pid;
    const ip = (await d1.network.inspectNetwork('nat')).containers.find((c) => c.containerId === 'server')!.ip;
    // execs the engine named: one that runs on, one that ends while berthd is down, one done before, one in `lost`
    const spin = await d1.exec('server', { args: ['server'], id: 'e-spin' });
    const late = await d1.exec('server', { args: ['later'], id: 'e-later' });
    const done = await d1.exec('server', { args: ['quick'], id: 'e-done' });
    const inLost = await d1.exec('lost', { args: ['server'], id: 'e-lost' });
    const firstOf = (p: typeof late) => new Promise<string>((r) => p.stdout.once('data', (d: Buffer) => r(d.toString())));
    expect(await firstOf(late)).toBe('soon\n');
    expect(await done.exited).toBe(3);
    expect(spin.pid).toBeGreaterThan(0);
    for (const p of [spin, inLost]) p.stdout.resume();

    // berthd goes: its handles close, nothing ends
    await d1.close();
    await first.close();
    expect(service.stateOf('server')).toBe('Running');
    // while nobody watches, `later` ends and `lost`'s compute system goes (as after a reboot)
    const other = service.connect();
    const h = await other.openComputeSystem('lost');
    await other.terminateComputeSystem(h);
    await other.closeComputeSystem(h);
    expect(service.stateOf('lost')).toBeUndefined();
    await new Promise((r) => setTimeout(r, 1200));

    const second = service.connect();
    const d2 = driverOn(second);
    try {
      const states = Object.fromEntries((await d2.list()).map((s) => [s.id, s]));
      expect(states['server']).toMatchObject({ status: 'running', pid });
      expect(states['later']).toMatchObject({ status: 'stopped', exitCode: 4 });
      expect(states['created']).toMatchObject({ status: 'created' });
      expect(states['stopped']).toMatchObject({ status: 'stopped', exitCode: 3 });
      expect(states['lost']).toMatchObject({ status: 'stopped', exitCode: 255 });
      // the execs: the running one with its pid, the ended one with its code and what it wrote meanwhile, `lost`'s with 255
      const execs = Object.fromEntries([...(await d2.restoredExecs('server')), ...(await d2.restoredExecs('lost'))].map((x) => [x.id, x]));
      expect(Object.keys(execs).sort()).toEqual(['e-later', 'e-lost', 'e-spin']);
      expect(execs['e-spin']!.process.pid).toBe(spin.pid);
      expect(execs['e-later']!.spec.args).toEqual(['later']);
      let lateOut = '';
      execs['e-later']!.process.stdout.on('data', (d: Buffer) => (lateOut += d.toString()));
      expect(await execs['e-later']!.process.exited).toBe(4);
      await until(async () => lateOut === 'late\n');
      expect(lateOut).toBe('late\n');
      expect(await execs['e-lost']!.process.exited).toBe(255);
      expect(await d2.restoredExecs('server')).toEqual([]);
      execs['e-spin']!.process.stdout.resume();
      await execs['e-spin']!.process.kill('SIGKILL');
      expect(await execs['e-spin']!.process.exited).toBe(137);
      // what `later` wrote while berthd was down was in its pipe
      expect(await logText(d2, 'later')).toBe('soon\nlate\n');
      expect((await d2.wait('later')).exitCode).toBe(4);
      // its compute system was shut down once its end was seen
      expect(service.stateOf('later')).toBe('Stopped');
      // the network attachment came back with it
      expect((await d2.network.inspectNetwork('nat')).containers.find((c) => c.containerId === 'server')?.ip).toBe(ip);

      await d2.kill('server', 'SIGTERM');
      expect((await d2.wait('server')).exitCode).toBe(7);
      expect(await logText(d2, 'server')).toBe('up\nbye\n');
      // a created one starts, a stopped one starts again
      await d2.start('created');
      await until(async () => (await logText(d2, 'created')) === 'up\n');
      await d2.kill('created', 'SIGKILL');
      expect((await d2.wait('created')).exitCode).toBe(137);
      await d2.start('lost');
      expect((await d2.state('lost')).status).toBe('running');

      for (const id of ['server', 'later', 'created', 'stopped', 'lost']) await d2.delete(id, { force: true });
      expect(await d2.list()).toEqual([]);
      expect(service.hcn.endpoints.size).toBe(0);
      expect(service.storage.writable.size).toBe(0);
    } finally {
      await d2.close();
      await second.close();
      await other.close();
    }
  });
});
