import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/index.js';
import { collect, openTestEngine, removeAll, text, type TestEngine } from './helpers.js';
import { linuxDriverSet } from '@berth/driver-linux';

const opened: TestEngine[] = [];
afterAll(async () => {
  for (const t of opened) await t.cleanup();
});

async function waitFor(cond: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

describe('restart policies', () => {
  it('on-failure:2 restarts a failing container twice, then leaves it exited; logs keep every run', async () => {
    const t = await openTestEngine();
    opened.push(t);
    await t.engine.images.ensureBuiltin('busybox');
    const { Id } = await t.engine.containers.create({
      Image: 'busybox',
      Cmd: ['sh', '-c', 'echo run; exit 5'],
      HostConfig: { NetworkMode: 'none', RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 } },
    });
    await t.engine.containers.start(Id);
    const done = await waitFor(async () => {
      const i = await t.engine.containers.inspect(Id);
      return i.RestartCount === 2 && i.State.Status === 'exited';
    }, 20_000);
    expect(done).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    const i = await t.engine.containers.inspect(Id);
    expect(i.State.ExitCode).toBe(5);
    expect(i.RestartCount).toBe(2);
    expect(text(await collect(await t.engine.containers.logs(Id, {})))).toBe('run\nrun\nrun\n');
  });

  it('always restarts after exit 0 but not after a user stop', async () => {
    const t = await openTestEngine();
    opened.push(t);
    await t.engine.images.ensureBuiltin('busybox');
    const { Id } = await t.engine.containers.create({
      Image: 'busybox',
      Cmd: ['sh', '-c', 'sleep 0.2'],
      HostConfig: { NetworkMode: 'none', RestartPolicy: { Name: 'always' } },
    });
    await t.engine.containers.start(Id);
    expect(await waitFor(async () => (await t.engine.containers.inspect(Id)).RestartCount >= 1, 15_000)).toBe(true);
    await t.engine.containers.stop(Id, { timeout: 1 });
    const count = (await t.engine.containers.inspect(Id)).RestartCount;
    await new Promise((r) => setTimeout(r, 1000));
    const after = await t.engine.containers.inspect(Id);
    expect(after.State.Running).toBe(false);
    expect(after.RestartCount).toBe(count);
  });

  it('auto-remove deletes the container after it exits', async () => {
    const t = await openTestEngine();
    opened.push(t);
    await t.engine.images.ensureBuiltin('busybox');
    const { Id } = await t.engine.containers.create({ Image: 'busybox', Cmd: ['true'], HostConfig: { NetworkMode: 'none', AutoRemove: true } });
    const removed = t.engine.containers.wait(Id, 'removed');
    await t.engine.containers.start(Id);
    expect((await removed).StatusCode).toBe(0);
    await expect(t.engine.containers.inspect(Id)).rejects.toThrow(/No such container/);
  });
});

describe('reconcile at open', () => {
  it('sweeps what a crash left between an auto-remove reporting removed and its release', async () => {
    const t = await openTestEngine();
    await t.engine.images.ensureBuiltin('busybox');
    const { Id } = await t.engine.containers.create({ Image: 'busybox', Cmd: ['sleep', '30'], HostConfig: { NetworkMode: 'none' } });
    await t.engine.containers.start(Id);
    await t.engine.close();
    // the record is gone (reported removed), nothing was released yet
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(join(t.root, 'berth.db'));
    db.prepare('DELETE FROM eng_containers WHERE id = ?').run(Id);
    db.close();
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(join(t.root, 'containers'))).toContain(Id);
    // the sweep at open: the driver's container (still running), its snapshot, its directory
    t.engine = await Engine.open({ drivers: linuxDriverSet,  root: t.root, runRoot: t.runRoot });
    opened.push(t);
    expect(await readdir(join(t.root, 'containers'))).not.toContain(Id);
    expect(await readdir(join(t.runRoot, 'driver', 'containers')).catch(() => [])).not.toContain(Id);
  });

  it('adopts running containers and records exits that happened while no engine watched', async () => {
    const dir = await mkdtemp('/tmp/be-');
    const root = join(dir, 'root');
    const runRoot = join(dir, 'run');
    const child = spawn(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', fileURLToPath(new URL('./child-engine.ts', import.meta.url)), root, runRoot, JSON.stringify([
        { Image: 'busybox', Cmd: ['sh', '-c', 'trap "exit 42" TERM; while true; do sleep 0.1; done'], HostConfig: { NetworkMode: 'none' } },
        { Image: 'busybox', Cmd: ['sh', '-c', 'sleep 1; exit 7'], HostConfig: { NetworkMode: 'none' } },
        { Image: 'busybox', Cmd: ['sh', '-c', 'sleep 1; exit 9'], HostConfig: { NetworkMode: 'none', RestartPolicy: { Name: 'always' } } },
      ])],
      { stdio: ['ignore', 'pipe', 'inherit'], cwd: fileURLToPath(new URL('..', import.meta.url)) },
    );
    let engine: Engine | undefined;
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let buf = '';
        child.stdout.on('data', (d: Buffer) => {
          buf += d.toString();
          if (buf.includes('\n')) resolve(buf.split('\n')[0]!);
        });
        child.on('exit', (code) => reject(new Error(`child exited ${code}`)));
        setTimeout(() => reject(new Error('child timed out')), 40_000);
      });
      const [running, exits, always] = JSON.parse(line) as [string, string, string];
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      await new Promise((r) => setTimeout(r, 1500));
      engine = await Engine.open({ drivers: linuxDriverSet,  root, runRoot });
      const r = await engine.containers.inspect(running);
      expect(r.State.Running).toBe(true);
      const e = await engine.containers.inspect(exits);
      expect(e.State.Status).toBe('exited');
      expect(e.State.ExitCode).toBe(7);
      // `always` brought the third back up at open.
      const a = await engine.containers.inspect(always);
      expect(['running', 'restarting', 'exited']).toContain(a.State.Status);
      expect(await waitFor(async () => (await engine!.containers.inspect(always)).RestartCount >= 1, 10_000)).toBe(true);
      // The adopted container's exit is seen by this engine.
      await engine.containers.stop(running, { timeout: 5 });
      const stopped = await engine.containers.inspect(running);
      expect(stopped.State.ExitCode).toBe(42);
      expect((await engine.containers.list()).map((c) => c.Id)).not.toContain(running);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      if (engine) {
        await removeAll(engine);
        await engine.close();
      }
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('sweeps what a crash between steps left: stray container snapshots', async () => {
    const dir = await mkdtemp('/tmp/be-');
    const root = join(dir, 'root');
    const runRoot = join(dir, 'run');
    let engine = await Engine.open({ drivers: linuxDriverSet,  root, runRoot });
    try {
      const snapshotter = (engine as unknown as { parts: { snapshotter: { prepare(k: string): Promise<unknown>; stat(k: string): Promise<unknown> } } }).parts.snapshotter;
      const stray = `container-${'ab'.repeat(32)}`;
      await snapshotter.prepare(stray);
      await engine.close();
      engine = await Engine.open({ drivers: linuxDriverSet,  root, runRoot });
      const again = (engine as unknown as { parts: { snapshotter: { stat(k: string): Promise<unknown> } } }).parts.snapshotter;
      await expect(again.stat(stray)).rejects.toThrow();
    } finally {
      await engine.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('at open restarts `always` containers even after a user stop, not stopped `unless-stopped` ones', async () => {
    const dir = await mkdtemp('/tmp/be-');
    const root = join(dir, 'root');
    const runRoot = join(dir, 'run');
    let engine = await Engine.open({ drivers: linuxDriverSet,  root, runRoot });
    try {
      await engine.images.ensureBuiltin('busybox');
      const ids: Record<string, string> = {};
      for (const policy of ['always', 'unless-stopped'] as const) {
        const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['sleep', '30'], HostConfig: { NetworkMode: 'none', RestartPolicy: { Name: policy } } });
        await engine.containers.start(Id);
        await engine.containers.stop(Id, { timeout: 0 });
        ids[policy] = Id;
      }
      await engine.close();
      engine = await Engine.open({ drivers: linuxDriverSet,  root, runRoot });
      expect((await engine.containers.inspect(ids.always!)).State.Running).toBe(true);
      expect((await engine.containers.inspect(ids['unless-stopped']!)).State.Running).toBe(false);
    } finally {
      await removeAll(engine);
      await engine.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
