import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectCgroups, LinuxDriver } from '../src/index.js';
import { makeSandbox } from './helpers.js';
import { logText, runOnce, uid } from './run-helper.js';



/** The limits checks against one runtime (`crun` or `runc`). */
export function limitsSuite(runtime: string): void {
  let sandbox: Awaited<ReturnType<typeof makeSandbox>>;
  let driver: LinuxDriver;

  beforeAll(async () => {
    sandbox = await makeSandbox(`limits-${runtime}`);
    driver = new LinuxDriver({ stateDir: sandbox.stateDir, runtime });
  });
  afterAll(async () => {
    await driver?.close();
    await sandbox?.cleanup();
  });

  describe(`resource limits (${runtime})`, () => {
    it('OOM-kills a memory hog and reports exit 137 + oomKilled', async () => {
      const events: string[] = [];
      const ctl = new AbortController();
      const id = uid('oom');
      const seen = (async () => {
        for await (const ev of driver.events({ signal: ctl.signal })) if (ev.id === id) events.push(ev.type);
      })();
      await driver.create({
        id,
        rootfs: await sandbox.rootfs(),
        // doubles a shell string until the 24 MiB limit is hit
        process: { args: ['sh', '-c', 'x=0123456789abcdef; while true; do x="$x$x"; done'] },
        resources: { memory: 24 * 1024 * 1024 },
        network: { mode: 'none' },
      });
      await driver.start(id);
      const status = await driver.wait(id);
      expect(status).toEqual({ exitCode: 137, oomKilled: true });
      const st = await driver.state(id);
      expect(st.oomKilled).toBe(true);
      expect(st.exitCode).toBe(137);
      await driver.delete(id);
      await new Promise((r) => setTimeout(r, 50));
      ctl.abort();
      await seen;
      expect(events).toContain('oom');
      expect(events).toContain('exit');
    });

    it('stops a fork bomb at the pids limit', async () => {
      const id = uid('pids');
      await driver.create({
        id,
        rootfs: await sandbox.rootfs(),
        process: { args: ['sleep', '30'] },
        resources: { pidsLimit: 16 },
        network: { mode: 'none' },
      });
      await driver.start(id);
      const bomb = await driver.exec(id, { args: ['sh', '-c', 'i=0; while [ $i -lt 60 ]; do sleep 30 >/dev/null 2>&1 & i=$((i+1)); done; echo all-spawned'] });
      let out = '';
      bomb.stdout.on('data', (c: Buffer) => (out += c.toString()));
      bomb.stderr.on('data', (c: Buffer) => (out += c.toString()));
      const code = await bomb.exited;
      expect(code).not.toBe(0);
      expect(out).toMatch(/can't fork|Resource temporarily unavailable/);
      expect(out).not.toContain('all-spawned');
      const stats = await driver.stats(id);
      expect(stats.pids.limit).toBe(16);
      expect(stats.pids.current).toBeLessThanOrEqual(16);
      expect(stats.pids.current).toBeGreaterThan(8);
      expect((await driver.state(id)).status).toBe('running');
      await driver.delete(id, { force: true });
    });

    it('applies cpu quota/period/shares and memory limits to the cgroup', async () => {
      const id = uid('cpu');
      await driver.create({
        id,
        rootfs: await sandbox.rootfs(),
        process: { args: ['sleep', '30'] },
        resources: { cpus: 0.5e9, cpuShares: 512, memory: 64 * 1024 * 1024 },
        network: { mode: 'none' },
      });
      await driver.start(id);
      const cg = await detectCgroups();
      const path = `/berth/${id}`;
      if (cg.layout === 'v2') {
        expect((await readFile(join(cg.unified as string, path, 'cpu.max'), 'utf8')).trim()).toBe('50000 100000');
        expect((await readFile(join(cg.unified as string, path, 'memory.max'), 'utf8')).trim()).toBe(String(64 * 1024 * 1024));
      } else {
        const cpu = cg.v1.get('cpu') as string;
        expect((await readFile(join(cpu, path, 'cpu.cfs_quota_us'), 'utf8')).trim()).toBe('50000');
        expect((await readFile(join(cpu, path, 'cpu.cfs_period_us'), 'utf8')).trim()).toBe('100000');
        expect((await readFile(join(cpu, path, 'cpu.shares'), 'utf8')).trim()).toBe('512');
        const mem = cg.v1.get('memory') as string;
        expect((await readFile(join(mem, path, 'memory.limit_in_bytes'), 'utf8')).trim()).toBe(String(64 * 1024 * 1024));
      }
      const stats = await driver.stats(id);
      expect(stats.memory.limitBytes).toBe(64 * 1024 * 1024);
      await driver.delete(id, { force: true });
    });

    it('caps RLIMIT_NOFILE at the host limit', async () => {
      const host = /^Max open files\s+\d+\s+(\d+)/m.exec(await readFile('/proc/self/limits', 'utf8'))?.[1];
      const r = await runOnce(driver, await sandbox.rootfs(), { args: ['sh', '-c', 'ulimit -n'] });
      expect(r.exitCode).toBe(0);
      expect(Number(r.stdout.trim())).toBe(Math.min(1048576, Number(host)));
    });
  });
}
