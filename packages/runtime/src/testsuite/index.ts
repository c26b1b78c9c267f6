/**
 * The driver conformance suite (vitest). A driver's test file calls
 * `runConformanceSuite('linux/crun', () => new MyDriver(...), fixtures)`; the suite
 * registers its tests in a `describe` block. The rootfs handed in by `fixtures.rootfs`
 * must be a busybox tree with /etc/passwd holding root (0), daemon (1) and nobody
 * (65534), like `buildBusyboxRootfs` from @berth/fixtures.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerSpec, ProcessSpec, RootfsSpec } from '../spec.js';
import type { LogEntry, RuntimeDriver, RuntimeEvent } from '../driver.js';
import { hostViewCases } from './host-view.js';
import { logCases } from './logs.js';
import { readAll } from './read-all.js';
import { restoreCases } from './restore.js';

export interface ConformanceFixtures {
  /** A fresh, writable rootfs for one container (called once per container). */
  rootfs(): Promise<RootfsSpec>;
  /** Fields merged into every spec (e.g. network mode). */
  baseSpec?: Partial<ContainerSpec>;
  /**
   * A new driver on the state of `closed` (already closed), as a restarted berthd makes:
   * given, the suite checks what a restart keeps (restoreCases).
   */
  reopen?: (closed: RuntimeDriver) => RuntimeDriver | Promise<RuntimeDriver>;
}

export type DriverFactory = () => RuntimeDriver | Promise<RuntimeDriver>;

function uniqueId(tag: string): string {
  return `conf-${tag}-${randomBytes(4).toString('hex')}`;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

function text(entries: LogEntry[], stream?: 'stdout' | 'stderr'): string {
  return Buffer.concat(entries.filter((e) => stream === undefined || e.stream === stream).map((e) => e.data)).toString();
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

export function runConformanceSuite(name: string, makeDriver: DriverFactory, fixtures: ConformanceFixtures): void {
  describe(`runtime driver conformance: ${name}`, () => {
    let driver: RuntimeDriver;
    const created: string[] = [];

    beforeAll(async () => {
      driver = await makeDriver();
    });

    afterAll(async () => {
      for (const id of created) await driver.delete(id, { force: true }).catch(() => undefined);
      await driver.close();
    });

    async function spec(tag: string, process: ProcessSpec, extra: Partial<ContainerSpec> = {}): Promise<ContainerSpec> {
      const id = uniqueId(tag);
      created.push(id);
      return {
        ...fixtures.baseSpec,
        id,
        rootfs: await fixtures.rootfs(),
        process,
        ...extra,
      };
    }

    /** create + start + wait; returns exit code and the output from the log. */
    async function run(tag: string, process: ProcessSpec, extra: Partial<ContainerSpec> = {}) {
      const s = await spec(tag, process, extra);
      await driver.create(s);
      await driver.start(s.id);
      const status = await driver.wait(s.id);
      const logs = await collect(driver.logs(s.id));
      return { id: s.id, ...status, stdout: text(logs, 'stdout'), stderr: text(logs, 'stderr') };
    }

    it('says which images and isolations it runs, each once', () => {
      expect(driver.platforms.length).toBeGreaterThan(0);
      const keys = driver.platforms.map((p) => `${p.os}/${p.isolation}`);
      expect(new Set(keys).size).toBe(keys.length);
      for (const p of driver.platforms) {
        expect(['linux', 'windows']).toContain(p.os);
        expect(['default', 'process', 'hyperv']).toContain(p.isolation);
      }
    });

    it('runs the lifecycle create -> start -> exit -> delete', async () => {
      const s = await spec('life', { args: ['sh', '-c', 'sleep 30'] });
      const st = await driver.create(s);
      expect(st.id).toBe(s.id);
      expect(st.status).toBe('created');
      expect((await driver.state(s.id)).status).toBe('created');
      await driver.start(s.id);
      const running = await driver.state(s.id);
      expect(running.status).toBe('running');
      expect(running.pid).toBeGreaterThan(0);
      expect((await driver.list()).map((c) => c.id)).toContain(s.id);
      await driver.kill(s.id, 'SIGKILL');
      const exit = await driver.wait(s.id);
      expect(exit.exitCode).toBe(137);
      const stopped = await driver.state(s.id);
      expect(stopped.status).toBe('stopped');
      expect(stopped.exitCode).toBe(137);
      expect(stopped.finishedAt).toBeTruthy();
      await driver.delete(s.id);
      await expect(driver.state(s.id)).rejects.toMatchObject({ code: 'NotFound' });
      expect((await driver.list()).map((c) => c.id)).not.toContain(s.id);
    });

    it('runs a namespace holder (a pod sandbox) until it is killed', async () => {
      // the driver may run a pause of its own instead of the process: either way it runs
      // from start until killed, and goes like any container
      const s = await spec('holder', { args: ['sleep', '30'] }, { namespaceHolder: true, hostname: 'holder' });
      await driver.create(s);
      await driver.start(s.id);
      const running = await driver.state(s.id);
      expect(running.status).toBe('running');
      expect(running.pid).toBeGreaterThan(0);
      await sleep(100);
      expect((await driver.state(s.id)).status).toBe('running');
      await driver.kill(s.id, 'SIGKILL');
      expect((await driver.wait(s.id)).exitCode).toBe(137);
      expect((await driver.state(s.id)).status).toBe('stopped');
      await driver.delete(s.id);
      await expect(driver.state(s.id)).rejects.toMatchObject({ code: 'NotFound' });
    });

    it('rejects a duplicate id and unknown ids', async () => {
      const s = await spec('dup', { args: ['true'] });
      await driver.create(s);
      await expect(driver.create({ ...s })).rejects.toMatchObject({ code: 'Conflict' });
      await expect(driver.start('conf-missing-0000')).rejects.toMatchObject({ code: 'NotFound' });
      await expect(driver.wait('conf-missing-0000')).rejects.toMatchObject({ code: 'NotFound' });
      await driver.delete(s.id);
    });

    it('reports exit codes and output streams', async () => {
      const r = await run('exit', { args: ['sh', '-c', 'echo out; echo err >&2; exit 3'] });
      expect(r.exitCode).toBe(3);
      expect(r.oomKilled).toBe(false);
      expect(r.stdout).toBe('out\n');
      expect(r.stderr).toBe('err\n');
      expect((await run('zero', { args: ['true'] })).exitCode).toBe(0);
    });

    it('starts a stopped container again; a running one is refused', async () => {
      const s = await spec('restart', { args: ['sh', '-c', 'echo run; exit 3'] });
      await driver.create(s);
      await driver.start(s.id);
      expect((await driver.wait(s.id)).exitCode).toBe(3);
      await driver.start(s.id);
      expect((await driver.wait(s.id)).exitCode).toBe(3);
      expect(text(await collect(driver.logs(s.id)))).toBe('run\nrun\n');
      const l = await spec('restart-running', { args: ['sleep', '30'] });
      await driver.create(l);
      await driver.start(l.id);
      await expect(driver.start(l.id)).rejects.toMatchObject({ code: 'Conflict' });
      await driver.delete(l.id, { force: true });
    });

    it('re-creates a deleted container under the same id at once', async () => {
      const s = await spec('reuse', { args: ['sh', '-c', 'exit 3'] });
      await driver.create(s);
      await driver.start(s.id);
      expect((await driver.wait(s.id)).exitCode).toBe(3);
      expect((await driver.state(s.id)).status).toBe('stopped');
      await driver.delete(s.id);
      // nothing of the first container may linger (no cached exit, no old state)
      await driver.create({ ...s, rootfs: await fixtures.rootfs(), process: { args: ['sh', '-c', 'sleep 0.5; exit 5'] } });
      expect((await driver.state(s.id)).status).toBe('created');
      await driver.start(s.id);
      const running = await driver.state(s.id);
      expect(running.status).toBe('running');
      expect(running.exitCode).toBeUndefined();
      expect((await driver.wait(s.id)).exitCode).toBe(5);
      expect((await driver.state(s.id)).exitCode).toBe(5);
      expect(text(await collect(driver.logs(s.id)))).toBe('');
      await driver.delete(s.id);
    });

    it('delivers signals: a trapped SIGTERM and SIGKILL', async () => {
      const s = await spec('sig', {
        args: ['sh', '-c', 'trap "echo got-term; exit 42" TERM; echo ready; while true; do sleep 0.05; done'],
      });
      await driver.create(s);
      await driver.start(s.id);
      for (let i = 0; i < 100; i++) {
        if (text(await collect(driver.logs(s.id))).includes('ready')) break;
        await sleep(50);
      }
      await driver.kill(s.id, 'TERM');
      const exit = await driver.wait(s.id);
      expect(exit.exitCode).toBe(42);
      expect(text(await collect(driver.logs(s.id)))).toContain('got-term');
      // kill of a stopped container is a no-op
      await driver.kill(s.id, 'SIGKILL');
    });

    it('merges image env then user env, with a default PATH and HOME', async () => {
      const r = await run(
        'env',
        { args: ['sh', '-c', 'echo "$A|$FOO|$HOME|$PATH"'], env: ['FOO=user'] },
        { image: { env: ['A=1', 'FOO=image'] } },
      );
      expect(r.exitCode).toBe(0);
      const [a, foo, home, path] = r.stdout.trim().split('|');
      expect(a).toBe('1');
      expect(foo).toBe('user');
      expect(home).toBe('/root');
      expect(path).toContain('/bin');
    });

    it('runs as the requested user', async () => {
      const byName = await run('user-name', { args: ['sh', '-c', 'echo $(id -u):$(id -g):$HOME'], user: 'daemon' });
      expect(byName.stdout.trim()).toBe('1:1:/usr/sbin');
      const numeric = await run('user-num', { args: ['sh', '-c', 'echo $(id -u):$(id -g)'], user: '1000:1001' });
      expect(numeric.stdout.trim()).toBe('1000:1001');
      const nameGroup = await run('user-ng', { args: ['sh', '-c', 'echo $(id -u):$(id -g)'], user: 'nobody:daemon' });
      expect(nameGroup.stdout.trim()).toBe('65534:1');
      const image = await run('user-img', { args: ['id', '-u'] }, { image: { user: 'nobody' } });
      expect(image.stdout.trim()).toBe('65534');
      const root = await run('user-root', { args: ['id', '-u'] });
      expect(root.stdout.trim()).toBe('0');
    });

    it('starts in the working dir, creating it when missing', async () => {
      const r = await run('cwd', { args: ['pwd'], cwd: '/work/deep/dir' });
      expect(r.exitCode).toBe(0);
      expect(r.stdout.trim()).toBe('/work/deep/dir');
      const img = await run('cwd-img', { args: ['pwd'] }, { image: { workingDir: '/tmp' } });
      expect(img.stdout.trim()).toBe('/tmp');
    });

    it('gives a tty when asked and resizes it', async () => {
      const r = await run('tty', { args: ['sh', '-c', '[ -t 0 ] && [ -t 1 ] && echo is-a-tty; stty size'], tty: true, terminalSize: { height: 24, width: 80 } });
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toContain('is-a-tty');
      expect(r.stdout).toContain('24 80');
      const notty = await run('notty', { args: ['sh', '-c', '[ -t 1 ] || echo not-a-tty'] });
      expect(notty.stdout.trim()).toBe('not-a-tty');

      const s = await spec('resize', {
        args: ['sh', '-c', 'i=0; while [ "$(stty size)" != "30 100" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; stty size'],
        tty: true,
        terminalSize: { height: 24, width: 80 },
      });
      await driver.create(s);
      await driver.start(s.id);
      await driver.resize(s.id, { height: 30, width: 100 });
      await driver.wait(s.id);
      expect(text(await collect(driver.logs(s.id)))).toContain('30 100');
    });

    it('feeds stdin through attach', async () => {
      const s = await spec('stdin', { args: ['sh', '-c', 'read line; echo "got:$line"'], stdin: true });
      await driver.create(s);
      const io = await driver.attach(s.id, { stdin: true, stdout: true, stderr: true });
      const out = readAll(io.stdout);
      await driver.start(s.id);
      io.stdin?.write('hello\n');
      const exit = await driver.wait(s.id);
      expect(exit.exitCode).toBe(0);
      expect(await out).toContain('got:hello');
      io.close();
      expect(text(await collect(driver.logs(s.id)))).toContain('got:hello');
    });

    it('closes stdin on end so cat exits', async () => {
      const s = await spec('stdin-eof', { args: ['cat'], stdin: true });
      await driver.create(s);
      await driver.start(s.id);
      const io = await driver.attach(s.id, { stdin: true, stdout: true });
      io.stdin?.end('abc\n');
      const exit = await driver.wait(s.id);
      io.close();
      expect(exit.exitCode).toBe(0);
      expect(text(await collect(driver.logs(s.id)))).toBe('abc\n');
    });

    it('execs into a running container', async () => {
      const s = await spec('exec', { args: ['sleep', '30'] }, { image: { env: ['IMG=img'] } });
      await driver.create(s);
      await expect(driver.exec(s.id, { args: ['true'] })).rejects.toMatchObject({ code: 'Conflict' });
      await driver.start(s.id);
      const p = await driver.exec(s.id, { args: ['sh', '-c', 'echo "out:$IMG:$X:$(pwd):$(id -u)"; echo err >&2; exit 5'], env: ['X=1'], cwd: '/tmp', user: 'daemon' });
      const [out, err, code] = await Promise.all([readAll(p.stdout), readAll(p.stderr), p.exited]);
      expect(code).toBe(5);
      expect(out).toBe('out:img:1:/tmp:1\n');
      expect(err).toBe('err\n');

      const cat = await driver.exec(s.id, { args: ['cat'], stdin: true });
      const catOut = readAll(cat.stdout);
      cat.stdin?.end('piped\n');
      expect(await cat.exited).toBe(0);
      expect(await catOut).toBe('piped\n');

      const tty = await driver.exec(s.id, { args: ['sh', '-c', '[ -t 1 ] && echo exec-tty'], tty: true });
      const ttyOut = readAll(tty.stdout);
      expect(await tty.exited).toBe(0);
      expect(await ttyOut).toContain('exec-tty');

      // exec sees the container's pid namespace: the main process is pid 1
      const ps = await driver.exec(s.id, { args: ['cat', '/proc/1/cmdline'] });
      const psOut = readAll(ps.stdout);
      expect(await ps.exited).toBe(0);
      expect((await psOut).replace(/\0/g, ' ')).toContain('sleep 30');
      await driver.kill(s.id);
      await driver.wait(s.id);
    });

    it('waits: several waiters, and again after exit', async () => {
      const s = await spec('wait', { args: ['sh', '-c', 'sleep 0.3; exit 7'] });
      await driver.create(s);
      await driver.start(s.id);
      const [a, b] = await Promise.all([driver.wait(s.id), driver.wait(s.id)]);
      expect(a.exitCode).toBe(7);
      expect(b.exitCode).toBe(7);
      expect((await driver.wait(s.id)).exitCode).toBe(7);
      const ctl = new AbortController();
      const s2 = await spec('wait-abort', { args: ['sleep', '30'] });
      await driver.create(s2);
      await driver.start(s2.id);
      const pending = driver.wait(s2.id, { signal: ctl.signal });
      ctl.abort();
      await expect(pending).rejects.toBeTruthy();
      await driver.kill(s2.id);
      expect((await driver.wait(s2.id)).exitCode).toBe(137);
    });

    it('refuses to delete a running container unless forced', async () => {
      const s = await spec('del', { args: ['sleep', '30'] });
      await driver.create(s);
      await driver.start(s.id);
      await expect(driver.delete(s.id)).rejects.toMatchObject({ code: 'Conflict' });
      expect((await driver.state(s.id)).status).toBe('running');
      await driver.delete(s.id, { force: true });
      await expect(driver.state(s.id)).rejects.toMatchObject({ code: 'NotFound' });
    });

    it('emits create, start, exit and delete events', async () => {
      const ctl = new AbortController();
      const seen: RuntimeEvent[] = [];
      const s = await spec('events', { args: ['sh', '-c', 'exit 4'] });
      const done = (async () => {
        for await (const ev of driver.events({ signal: ctl.signal })) {
          if (ev.id !== s.id) continue;
          seen.push(ev);
          if (ev.type === 'delete') break;
        }
      })();
      await sleep(10);
      await driver.create(s);
      await driver.start(s.id);
      await driver.wait(s.id);
      await driver.delete(s.id);
      await Promise.race([done, sleep(5000)]);
      ctl.abort();
      expect(seen.map((e) => e.type)).toEqual(['create', 'start', 'exit', 'delete']);
      expect(seen.find((e) => e.type === 'exit')?.exitCode).toBe(4);
    });

    it('pauses and unpauses (when the driver can), and kills a paused container', async () => {
      // optional in the contract: a driver has both methods or neither
      expect(typeof driver.pause).toBe(typeof driver.unpause);
      if (!driver.pause || !driver.unpause) return;
      const s = await spec('pause', { args: ['sh', '-c', 'i=0; while [ $i -lt 600 ]; do echo tick $i; i=$((i+1)); sleep 0.02; done'] });
      await driver.create(s);
      await expect(driver.pause(s.id)).rejects.toMatchObject({ code: 'Conflict' });
      await driver.start(s.id);
      const ticks = async () => text(await collect(driver.logs(s.id))).split('\n').filter((l) => l.startsWith('tick')).length;
      for (let i = 0; i < 100 && (await ticks()) < 2; i++) await sleep(20);
      await driver.pause(s.id);
      await driver.pause(s.id); // no-op
      const st = await driver.state(s.id);
      expect(st.status).toBe('running');
      expect(st.paused).toBe(true);
      await expect(driver.exec(s.id, { args: ['true'] })).rejects.toMatchObject({ code: 'Conflict' });
      const frozenAt = await ticks();
      await sleep(300);
      expect(await ticks()).toBe(frozenAt);
      await driver.unpause(s.id);
      await driver.unpause(s.id); // no-op
      expect((await driver.state(s.id)).paused).not.toBe(true);
      for (let i = 0; i < 100 && (await ticks()) <= frozenAt; i++) await sleep(20);
      expect(await ticks()).toBeGreaterThan(frozenAt);

      await driver.pause(s.id);
      await driver.kill(s.id, 'SIGKILL');
      const ctl = new AbortController();
      const t = setTimeout(() => ctl.abort(), 10_000);
      expect((await driver.wait(s.id, { signal: ctl.signal }).finally(() => clearTimeout(t))).exitCode).toBe(137);
      const stopped = await driver.state(s.id);
      expect(stopped.status).toBe('stopped');
      expect(stopped.paused).not.toBe(true);
      await expect(driver.unpause(s.id)).rejects.toMatchObject({ code: 'Conflict' });
      await driver.delete(s.id);

      // a forced delete takes a paused container down too
      const f = await spec('pause-rm', { args: ['sleep', '30'] });
      await driver.create(f);
      await driver.start(f.id);
      await driver.pause(f.id);
      await driver.delete(f.id, { force: true });
      await expect(driver.state(f.id)).rejects.toMatchObject({ code: 'NotFound' });
    });

    logCases({ driver: () => driver, spec });
    hostViewCases({ driver: () => driver, spec });
    restoreCases({
      driver: () => driver,
      spec,
      ...(fixtures.reopen
        ? {
            restart: async () => {
              await driver.close();
              driver = await fixtures.reopen!(driver);
              return driver;
            },
          }
        : {}),
    });

    it('reports stats of a running container', async () => {
      const s = await spec('stats', { args: ['sleep', '30'] });
      await driver.create(s);
      await driver.start(s.id);
      const st = await driver.stats(s.id);
      expect(st.id).toBe(s.id);
      expect(st.pids.current).toBeGreaterThanOrEqual(1);
      expect(st.memory.usageBytes).toBeGreaterThan(0);
      expect(st.cpu.usageNanos).toBeGreaterThanOrEqual(0);
      await driver.delete(s.id, { force: true });
    });
  });
}

export { runNetworkConformanceSuite, type NetworkConformanceFixtures, type NetworkDriverFactory } from './network.js';
