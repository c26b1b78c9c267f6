import { describe, expect, it } from 'vitest';
import { busyboxEngine, collect, text, uniq } from './helpers.js';

const t = busyboxEngine();

describe('container lifecycle on the built-in busybox', () => {
  it('create -> start -> wait -> logs -> remove', async () => {
    const { engine } = t;
    const name = uniq('hello');
    const { Id } = await engine.containers.create(
      { Image: 'busybox', Cmd: ['sh', '-c', 'echo hello; echo oops >&2; exit 3'], HostConfig: { NetworkMode: 'none' } },
      { name },
    );
    expect(Id).toMatch(/^[0-9a-f]{64}$/);
    const waiting = engine.containers.wait(Id, 'next-exit');
    await engine.containers.start(Id);
    expect(await waiting).toEqual({ StatusCode: 3, Error: null });
    const logs = await collect(await engine.containers.logs(Id, { stdout: true, stderr: true }));
    expect(text(logs, 'stdout')).toBe('hello\n');
    expect(text(logs, 'stderr')).toBe('oops\n');
    const info = await engine.containers.inspect(name);
    expect(info.State.Status).toBe('exited');
    expect(info.State.ExitCode).toBe(3);
    expect(info.Name).toBe('/' + name);
    const [row] = await engine.containers.list({ all: true, filters: { name: [name] } });
    expect(row?.Status).toMatch(/^Exited \(3\) /);
    expect(row?.Names).toEqual(['/' + name]);
    expect(row?.Image).toBe('busybox');
    await engine.containers.remove(Id);
    await expect(engine.containers.inspect(Id)).rejects.toThrow(/No such container/);
  });

  it('refuses a name in use with Docker\'s message', async () => {
    const { engine } = t;
    const name = uniq('dup');
    const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['true'], HostConfig: { NetworkMode: 'none' } }, { name });
    await expect(engine.containers.create({ Image: 'busybox', Cmd: ['true'] }, { name })).rejects.toThrow(
      `Conflict. The container name "/${name}" is already in use by container "${Id}". You have to remove (or rename) that container to be able to reuse that name.`,
    );
    await engine.containers.remove(Id);
  });

  it('stops a running container with SIGTERM then SIGKILL, and removes with force', async () => {
    const { engine } = t;
    const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['sh', '-c', 'trap "" TERM; while true; do sleep 1; done'], HostConfig: { NetworkMode: 'none' } });
    await engine.containers.start(Id);
    expect((await engine.containers.inspect(Id)).State.Running).toBe(true);
    await expect(engine.containers.remove(Id)).rejects.toThrow(/container is running: stop the container before removing or force remove/);
    const t0 = Date.now();
    await engine.containers.stop(Id, { timeout: 1 });
    expect(Date.now() - t0).toBeLessThan(8000);
    const st = (await engine.containers.inspect(Id)).State;
    expect(st.Status).toBe('exited');
    expect(st.ExitCode).toBe(137);
    await engine.containers.start(Id);
    await engine.containers.remove(Id, { force: true });
    expect(await engine.containers.list({ all: true, filters: { id: [Id] } })).toEqual([]);
  });

  it('kills, restarts, reports stats and top of a running container', async () => {
    const { engine } = t;
    const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['sh', '-c', 'trap "exit 11" USR1; while true; do sleep 0.1; done'], HostConfig: { NetworkMode: 'none' } });
    await engine.containers.start(Id);
    expect(await engine.containers.start(Id)).toEqual({ started: false });
    const top = await engine.containers.top(Id);
    expect(top.Titles).toContain('PID');
    expect(top.Processes.some((p) => p.join(' ').includes('while true'))).toBe(true);
    const stats = (await engine.containers.stats(Id, { stream: false })) as import('../src/index.js').ContainerStats;
    expect(stats.id).toBe(Id);
    expect(stats.memory_stats.usage).toBeGreaterThan(0);
    // no memory limit: the host's memory, as Docker reports it (not 0B)
    expect(stats.memory_stats.limit).toBe((await import('node:os')).totalmem());
    const w = engine.containers.wait(Id, 'next-exit');
    await engine.containers.kill(Id, { signal: 'USR1' });
    expect((await w).StatusCode).toBe(11);
    await expect(engine.containers.kill(Id)).rejects.toThrow(/is not running/);
    await engine.containers.restart(Id, { timeout: 1 });
    const info = await engine.containers.inspect(Id);
    expect(info.State.Running).toBe(true);
    expect(info.State.Pid).toBeGreaterThan(0);
    await engine.containers.remove(Id, { force: true });
  });

  it('top lists the container\'s processes alone, also when it shares the host\'s pid namespace (--pid host), as Docker', async () => {
    const { engine } = t;
    const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['sleep', '30'], HostConfig: { NetworkMode: 'none', PidMode: 'host' } });
    await engine.containers.start(Id);
    const top = await engine.containers.top(Id);
    expect(top.Processes.map((p) => p.at(-1))).toEqual(['sleep 30']);
    const withArgs = await engine.containers.top(Id, { psArgs: '-o pid,comm' });
    expect(withArgs).toEqual({ Titles: ['PID', 'COMMAND'], Processes: [[String((await engine.containers.inspect(Id)).State.Pid), 'sleep']] });
    await engine.containers.remove(Id, { force: true });
  });

  it("--init (HostConfig.Init): a static init is PID 1 and runs the command, as Docker's docker-init", async () => {
    const { engine } = t;
    const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['sh', '-c', 'tr "\\0" " " < /proc/1/cmdline; echo; echo "me $$"; sleep 30 & wait'], HostConfig: { NetworkMode: 'none', Init: true } });
    const w = engine.containers.wait(Id, 'next-exit');
    await engine.containers.start(Id);
    let out = '';
    for (let i = 0; i < 100 && !out.includes('me '); i++) {
      out = text(await collect(await engine.containers.logs(Id, {})));
      if (!out.includes('me ')) await new Promise((r) => setTimeout(r, 50));
    }
    expect(out).toMatch(/^\/sbin\/docker-init -- sh -c /);
    expect(out).not.toContain('me 1\n');
    // the init forwards the stop signal to the shell (PID 1 would ignore TERM without a handler)
    await engine.containers.stop(Id, { timeout: 10 });
    expect((await w).StatusCode).toBe(143);
    await engine.containers.remove(Id);
  });

  it('reports Docker errors for bad input', async () => {
    const { engine } = t;
    await expect(engine.containers.create({ Image: 'nosuchimage:1', Cmd: ['x'] })).rejects.toMatchObject({ code: 'NotFound', message: 'No such image: nosuchimage:1' });
    await expect(engine.containers.create({ Image: 'BadRef', Cmd: ['x'] })).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(engine.containers.create({ Image: 'busybox', Cmd: ['x'] }, { name: 'bad name' })).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(engine.containers.inspect('nope')).rejects.toMatchObject({ code: 'NotFound', message: 'No such container: nope' });
    await expect(engine.containers.create({ Image: 'busybox', HostConfig: { RestartPolicy: { Name: 'always' }, AutoRemove: true } })).rejects.toMatchObject({ code: 'InvalidArgument' });
    const info = await engine.system.info();
    expect(info.Images).toBeGreaterThan(0);
    expect(info.OSType).toBe('linux');
  });

  it('pauses and unpauses through the freezer cgroup', async () => {
    const { engine } = t;
    const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['sh', '-c', 'i=0; while true; do i=$((i+1)); echo $i > /count; sleep 0.05; done'], HostConfig: { NetworkMode: 'none' } });
    await engine.containers.start(Id);
    await new Promise((r) => setTimeout(r, 300));
    await engine.containers.pause(Id);
    const paused = await engine.containers.inspect(Id);
    expect(paused.State.Status).toBe('paused');
    expect(paused.State.Paused).toBe(true);
    const [row] = await engine.containers.list({ filters: { id: [Id] } });
    expect(row?.Status).toMatch(/\(Paused\)$/);
    await expect(engine.containers.execCreate(Id, { Cmd: ['true'] })).rejects.toThrow(/is paused/);
    await engine.containers.unpause(Id);
    expect((await engine.containers.inspect(Id)).State.Status).toBe('running');
    await engine.containers.pause(Id);
    await engine.containers.stop(Id, { timeout: 2 });
    expect((await engine.containers.inspect(Id)).State.Status).toBe('exited');
    await engine.containers.remove(Id);
  });

  it('an attach made before start sees all output of a short process (the docker run sequence)', async () => {
    const { engine } = t;
    for (let i = 0; i < 3; i++) {
      const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['sh', '-c', 'echo out; echo err >&2; exit 2'], AttachStdout: true, AttachStderr: true, HostConfig: { NetworkMode: 'none', AutoRemove: true } });
      const session = await engine.containers.attach(Id, { stdout: true, stderr: true, stream: true });
      const chunks = collect(session.output);
      const removed = engine.containers.wait(Id, 'removed');
      await engine.containers.start(Id);
      expect((await removed).StatusCode).toBe(2);
      const got = await chunks;
      expect(text(got, 'stdout')).toBe('out\n');
      expect(text(got, 'stderr')).toBe('err\n');
    }
  });

  it('runs health checks: starting -> healthy, and unhealthy after the retries', async () => {
    const { engine } = t;
    const ms = 1_000_000;
    const good = await engine.containers.create({
      Image: 'busybox',
      Cmd: ['sleep', '30'],
      // ready only when the test says so: a timed `touch` raced a loaded machine (seen in CI)
      Healthcheck: { Test: ['CMD-SHELL', 'test -e /ready'], Interval: 150 * ms, Retries: 1000 },
      HostConfig: { NetworkMode: 'none' },
    });
    const bad = await engine.containers.create({
      Image: 'busybox',
      Cmd: ['sleep', '30'],
      Healthcheck: { Test: ['CMD', 'false'], Interval: 100 * ms, Retries: 2 },
      HostConfig: { NetworkMode: 'none' },
    });
    await engine.containers.start(good.Id);
    await engine.containers.start(bad.Id);
    expect((await engine.containers.inspect(good.Id)).State.Health?.Status).toBe('starting');
    const ready = await engine.containers.execCreate(good.Id, { Cmd: ['touch', '/ready'], AttachStdout: true, AttachStderr: true });
    const touched = await engine.containers.execStart(ready.Id, {});
    for await (const _ of touched!.output) void _;
    const until = async (id: string, want: string): Promise<boolean> => {
      for (let i = 0; i < 60; i++) {
        if ((await engine.containers.inspect(id)).State.Health?.Status === want) return true;
        await new Promise((r) => setTimeout(r, 100));
      }
      return false;
    };
    expect(await until(good.Id, 'healthy')).toBe(true);
    expect(await until(bad.Id, 'unhealthy')).toBe(true);
    const [row] = await engine.containers.list({ filters: { id: [good.Id] } });
    expect(row?.Status).toMatch(/^Up .* \(healthy\)$/);
    expect((await engine.containers.list({ filters: { health: ['unhealthy'] } })).map((c) => c.Id)).toEqual([bad.Id]);
    const failing = (await engine.containers.inspect(bad.Id)).State.Health!;
    expect(failing.FailingStreak).toBeGreaterThanOrEqual(2);
    expect(failing.Log.at(-1)?.ExitCode).toBe(1);
    await engine.containers.remove(good.Id, { force: true });
    await engine.containers.remove(bad.Id, { force: true });
  });
});
