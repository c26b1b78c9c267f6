import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerState } from '@berth/runtime';
import { ROOT_LABEL, type ContainerContext } from './context.js';
import type { Execs } from './exec.js';
import type { Lifecycle } from './lifecycle.js';
import { runtimeIdOf } from './record.js';
import { restartsAtDaemonStart } from './restart-policy.js';

/**
 * At open: containers the records call running are checked with the driver — still
 * running ones are adopted (watched), those that exited while nobody watched get their
 * exit code; then restart policies apply to both these and to containers berthd had
 * running when it went down. The execs a driver kept (RuntimeDriver.restoredExecs) come
 * back with their container, also when it ended meanwhile (they report how they ended).
 */
export async function reconcile(ctx: ContainerContext, lifecycle: Lifecycle, execs: Execs, applyRestart: boolean): Promise<void> {
  const { table, driver } = ctx;
  const listed = await driver.list().catch(() => [] as ContainerState[]);
  const known = new Set(listed.map((c) => c.id));
  await sweep(ctx, listed);
  for (const r of table.all()) {
    if (!['running', 'paused', 'restarting', 'removing'].includes(r.state.status)) continue;
    if (r.state.status === 'removing') {
      await lifecycle.remove(r.id, { force: true }).catch(() => undefined);
      continue;
    }
    const st = known.has(runtimeIdOf(r)) ? await driver.state(runtimeIdOf(r)).catch(() => undefined) : undefined;
    if (st && driver.restoredExecs) execs.adopt(r.id, await driver.restoredExecs(runtimeIdOf(r)).catch(() => []));
    if (st?.status === 'running') {
      r.state.status = st.paused ? 'paused' : 'running';
      r.state.pid = st.pid ?? 0;
      table.save(r);
      lifecycle.watch(r.id);
      if (!st.paused) lifecycle.health.start(r);
      continue;
    }
    // gone from the driver (the host rebooted): Docker's 255 unless it was between restarts
    const exit =
      st?.status === 'stopped'
        ? { exitCode: st.exitCode ?? 255, oomKilled: st.oomKilled ?? false, finishedAt: st.finishedAt ?? new Date().toISOString() }
        : { exitCode: r.state.status === 'restarting' ? r.state.exitCode : 255, oomKilled: false, finishedAt: new Date().toISOString() };
    r.state = { ...r.state, status: 'exited', pid: 0, exitCode: exit.exitCode, oomKilled: exit.oomKilled, finishedAt: exit.finishedAt };
    table.save(r);
    ctx.emit(r, 'die', { exitCode: String(exit.exitCode) });
    if (r.hostConfig.AutoRemove) await lifecycle.remove(r.id, { force: true, volumes: true }).catch(() => undefined);
    // what it held of the network goes, as at any exit
    else if (st?.status === 'stopped') await driver.releaseNetwork?.(runtimeIdOf(r)).catch(() => undefined);
  }
  if (!applyRestart) return;
  for (const r of table.all()) {
    if (!restartsAtDaemonStart(r)) continue;
    await ctx
      .serial(r.id, async () => {
        const cur = table.resolve(r.id);
        cur.manuallyStopped = false;
        await lifecycle.launch(cur);
      })
      .catch(() => undefined);
  }
}

/**
 * Removes what a crash between steps left: driver containers of this root that no record
 * points at (current runs only), and container snapshots without a record.
 */
async function sweep(ctx: ContainerContext, listed: ContainerState[]): Promise<void> {
  const { table, driver, deps } = ctx;
  const records = table.all();
  const live = new Set(records.map((r) => runtimeIdOf(r)));
  for (const c of listed) {
    if (c.labels[ROOT_LABEL] !== deps.root || live.has(c.id)) continue;
    await driver.delete(c.id, { force: true }).catch(() => undefined);
  }
  const ids = new Set(records.map((r) => r.snapshotKey));
  for (const key of (await deps.snapshots.list?.().catch(() => [] as string[])) ?? []) {
    if (key.startsWith('container-') && !ids.has(key)) await deps.snapshots.remove(key).catch(() => undefined);
  }
  // directories of containers whose release (after an auto-remove) a crash interrupted
  const known = new Set(records.map((r) => r.id));
  for (const dir of await readdir(join(deps.root, 'containers')).catch(() => [] as string[])) {
    if (/^[0-9a-f]{64}$/.test(dir) && !known.has(dir)) await rm(join(deps.root, 'containers', dir), { recursive: true, force: true });
  }
}
