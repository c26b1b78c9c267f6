import { expect, it } from 'vitest';
import type { RuntimeDriver } from '../driver.js';
import type { LogCaseContext } from './logs.js';
import { readAll } from './read-all.js';

export interface RestoreCaseContext extends LogCaseContext {
  /** Closes the suite's driver and makes the next one on the same state (a berthd restart); absent when the driver cannot. */
  restart?: () => Promise<RuntimeDriver>;
}

/**
 * What a restart leaves of a container's execs (RuntimeDriver.restoredExecs): a running one
 * comes back with its spec and pid and reports its own exit code, one that ended while no
 * driver watched reports its code too, an exec started without an id is not kept, and they
 * are handed out once.
 */
export function restoreCases(c: RestoreCaseContext): void {
  it('takes back the execs a driver before it started (when the driver can)', async () => {
    // optional in the contract, and a suite that cannot restart its driver cannot show it
    if (!c.restart || !c.driver().restoredExecs) return;
    const before = c.driver();
    const s = await c.spec('execback', { args: ['sleep', '30'] });
    await before.create(s);
    await before.start(s.id);
    const long = await before.exec(s.id, { args: ['sh', '-c', 'sleep 1; echo late; exit 5'], id: 'exec-long' });
    const quick = await before.exec(s.id, { args: ['sh', '-c', 'sleep 0.2; exit 3'], id: 'exec-quick' });
    const anonymous = await before.exec(s.id, { args: ['sleep', '2'] });
    long.stdout.resume();
    quick.stdout.resume();
    anonymous.stdout.resume();
    for (const p of [long, quick, anonymous]) {
      p.stderr.resume();
      p.exited.catch(() => undefined);
    }
    const pid = long.pid;

    const driver = await c.restart();
    // the quick one ends while no driver watches
    await new Promise((r) => setTimeout(r, 500));
    const back = await driver.restoredExecs!(s.id);
    expect(back.map((x) => x.id).sort()).toEqual(['exec-long', 'exec-quick']);
    const l = back.find((x) => x.id === 'exec-long')!;
    const q = back.find((x) => x.id === 'exec-quick')!;
    expect(l.spec.args).toEqual(['sh', '-c', 'sleep 1; echo late; exit 5']);
    if (pid !== undefined) expect(l.process.pid).toBe(pid);
    expect(l.process.stdin).toBeNull();
    const lateOut = readAll(l.process.stdout);
    l.process.stderr.resume();
    q.process.stdout.resume();
    q.process.stderr.resume();
    expect(await q.process.exited).toBe(3);
    expect(await l.process.exited).toBe(5);
    expect(await lateOut).toBe('late\n');
    expect(await driver.restoredExecs!(s.id)).toEqual([]);
    await driver.kill(s.id);
    await driver.wait(s.id);
  });
}
