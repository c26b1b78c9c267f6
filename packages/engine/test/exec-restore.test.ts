/*
 * Execs across an engine restart, with no platform in the engine: a driver that keeps
 * execs (RuntimeDriver.restoredExecs; here FakeDriver.reopen(), a new driver over the same
 * simulated host) hands them back at reconcile, and exec inspect shows the running one with
 * its pid and the one that ended while no engine ran with its exit code.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FakeDriver } from '@berth/runtime/fake';
import { Engine } from '../src/index.js';

const programs = (args: string[]) =>
  args[0] === 'serve'
    ? async (p: { sleep(s: number): Promise<void> }) => {
        for (;;) await p.sleep(0.05);
      }
    : undefined;

let dir: string;
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function until(f: () => Promise<boolean>, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end && !(await f()); ) await new Promise((r) => setTimeout(r, 50));
}

describe('execs across an engine restart', () => {
  it('come back from a driver that keeps them: running with their pid, or ended with their code', async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-eng-execback-'));
    const open = (driver: FakeDriver) => Engine.open({ root: join(dir, 'root'), runRoot: join(dir, 'run'), drivers: { runtimes: { fake: driver } } });
    const d1 = new FakeDriver({ name: 'fake', programs });
    const e1 = await open(d1);
    await e1.images.ensureBuiltin('busybox');
    const { Id } = await e1.containers.create({ Image: 'busybox', Cmd: ['serve'], HostConfig: { NetworkMode: 'none' } });
    await e1.containers.start(Id);
    const spin = (await e1.containers.execCreate(Id, { Cmd: ['serve'], User: 'daemon' })).Id;
    const late = (await e1.containers.execCreate(Id, { Cmd: ['sh', '-c', 'sleep 0.5; exit 5'] })).Id;
    await e1.containers.execStart(spin, { detach: true });
    await e1.containers.execStart(late, { detach: true });
    const before = await e1.containers.execInspect(spin);
    expect(before).toMatchObject({ Running: true, ExitCode: null });
    expect(before.Pid).toBeGreaterThan(0);
    await e1.close();

    // `late` ends while no engine runs
    await new Promise((r) => setTimeout(r, 800));
    const e2 = await open(d1.reopen());
    try {
      expect((await e2.containers.inspect(Id)).ExecIDs?.sort()).toEqual([spin, late].sort());
      expect(await e2.containers.execInspect(spin)).toMatchObject({ ID: spin, ContainerID: Id, Running: true, ExitCode: null, Pid: before.Pid, ProcessConfig: { entrypoint: 'serve', arguments: [], user: 'daemon' } });
      expect(await e2.containers.execInspect(late)).toMatchObject({ Running: false, ExitCode: 5 });
      await e2.containers.stop(Id, { timeout: 1 });
      // the container's end ends its execs
      await until(async () => !(await e2.containers.execInspect(spin)).Running);
      expect((await e2.containers.execInspect(spin)).Running).toBe(false);
      await e2.containers.remove(Id);
      await expect(e2.containers.execInspect(spin)).rejects.toThrow(/No such exec/);
    } finally {
      await e2.close();
    }
  });
});
