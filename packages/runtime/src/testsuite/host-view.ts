import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { ProcessTable } from '../driver.js';
import type { LogCaseContext } from './logs.js';
import { readAll } from './read-all.js';

/**
 * What the engine learns of a running container through the driver instead of the
 * host's /proc: its processes (`docker top`), the host's counters beside its stats
 * (`docker stats`), and its root as a directory (`docker cp`).
 */
export function hostViewCases(c: LogCaseContext): void {
  it('lists the processes of a running container, execs included', async () => {
    const driver = c.driver();
    const s = await c.spec('top', { args: ['sleep', '30'] });
    await driver.create(s);
    await expect(driver.processes(s.id)).rejects.toMatchObject({ code: 'Conflict' });
    await driver.start(s.id);
    const ex = await driver.exec(s.id, { args: ['sleep', '31'] });
    try {
      // ps's table ends with CMD, the full command line; Windows' (dockerd's top on Windows) has
      // the image's Name alone, so there a process is known by its program (`sleep`, `sleep.exe`)
      const first = await driver.processes(s.id);
      const col = first.titles.includes('CMD') ? first.titles.indexOf('CMD') : first.titles.indexOf('Name');
      expect(col).toBeGreaterThanOrEqual(0);
      const hasArgs = first.titles[col] === 'CMD';
      const cmdsOf = (t: { processes: string[][] }) => t.processes.map((row) => row[col]);
      const isSleep = (cmd: string | undefined) => cmd === 'sleep' || cmd?.toLowerCase() === 'sleep.exe';
      // a real runtime's exec passes through its own init (runc:[2:INIT]) before it is `sleep 31`
      const execSeen = (t: ProcessTable) => (hasArgs ? cmdsOf(t).includes('sleep 31') : cmdsOf(t).filter(isSleep).length === 2);
      let table = first;
      for (let i = 0; i < 100 && !execSeen(table); i++) {
        await new Promise((r) => setTimeout(r, 50));
        table = await driver.processes(s.id);
      }
      expect(table.titles).toContain('PID');
      for (const row of table.processes) expect(row).toHaveLength(table.titles.length);
      const cmds = cmdsOf(table);
      if (hasArgs) {
        expect(table.titles.at(-1)).toBe('CMD');
        expect(cmds).toContain('sleep 30');
        expect(cmds).toContain('sleep 31');
      } else {
        expect(cmds.filter(isSleep)).toHaveLength(2);
      }
      expect(table.processes).toHaveLength(2);
      const pids = table.processes.map((row) => row[table.titles.indexOf('PID')]);
      expect(new Set(pids).size).toBe(2);
      const withArgs = await driver.processes(s.id, { psArgs: '-ef' }).catch((e: unknown) => e);
      if (hasArgs) expect((withArgs as ProcessTable).processes.map((row) => row.at(-1))).toContain('sleep 30');
      // a table that is not ps's may refuse ps options (dockerd on Windows does)
      else if (withArgs instanceof Error) expect(withArgs).toMatchObject({ code: 'InvalidArgument' });
      else expect(cmdsOf(withArgs as ProcessTable).filter(isSleep)).toHaveLength(2);
    } finally {
      await ex.kill('SIGKILL');
      await ex.exited;
      await driver.delete(s.id, { force: true });
    }
  });

  it('samples the host beside a container: CPU clock, online CPUs, memory; its own interfaces only', async () => {
    const driver = c.driver();
    const s = await c.spec('host-stats', { args: ['sleep', '30'] });
    await driver.create(s);
    await driver.start(s.id);
    try {
      const a = await driver.stats(s.id);
      await new Promise((r) => setTimeout(r, 50));
      const b = await driver.stats(s.id);
      expect(a.host.onlineCpus).toBeGreaterThanOrEqual(1);
      expect(a.host.memoryBytes).toBeGreaterThan(0);
      expect(a.host.cpuNanos).toBeGreaterThan(0);
      expect(b.host.cpuNanos).toBeGreaterThan(a.host.cpuNanos);
      // the suite's containers have no network (mode none): loopback alone, which is left out
      expect(a.networks ?? {}).toEqual({});
    } finally {
      await driver.delete(s.id, { force: true });
    }
  });

  it("opens a running container's root: bytes the host writes there the container reads as written", async () => {
    const driver = c.driver();
    const s = await c.spec('root', { args: ['sleep', '30'] });
    await driver.create(s);
    await expect(driver.openRoot(s.id)).rejects.toMatchObject({ code: 'Conflict' });
    await driver.start(s.id);
    try {
      // a Hyper-V container's files are inside its utility VM: the host cannot reach them while it runs
      if (driver.platforms.length > 0 && driver.platforms.every((p) => p.isolation === 'hyperv')) {
        await expect(driver.openRoot(s.id)).rejects.toMatchObject({ code: 'Unsupported' });
        expect((await driver.state(s.id)).status).toBe('running');
        return;
      }
      const root = await driver.openRoot(s.id);
      try {
        const bytes = Buffer.from([0, 1, 2, 0xff, 0xfe, 10, 13]);
        await writeFile(join(root.path, 'conf-from-host'), bytes);
        const cat = await driver.exec(s.id, { args: ['sha256sum', '/conf-from-host'] });
        const out = readAll(cat.stdout);
        expect(await cat.exited).toBe(0);
        expect((await out).split(' ')[0]).toBe(createHash('sha256').update(bytes).digest('hex'));
      } finally {
        await root.release();
      }
    } finally {
      await driver.delete(s.id, { force: true });
    }
  });
}
